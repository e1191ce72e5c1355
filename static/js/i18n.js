// i18n.js — every word the page shows, in Korean and English, and the switch between them.
//
// Elements carry the key of their text (data-i18n, with arguments in data-i18n-args as JSON);
// switching the language re-translates the whole page, answers already shown included. Model
// and knowledge-base text is never passed through here.

const STRINGS = {
  ko: {
    pageTitle: "dual-nova 고객 지원",
    title: "고객 지원 챗봇",
    subtitle: "질문하면 요약과 상세 분석이 함께 도착합니다",
    langLabel: "언어",
    clear: "대화 지우기",
    clearDone: "대화를 지웠어요. 새 대화를 시작합니다.",
    clearServerFailed: "화면은 지웠지만 서버의 대화 기록은 지우지 못했어요.",
    translateTitle: "번역기",
    translateLabel: "번역할 글",
    translateTarget: "번역 방향",
    translateAuto: "자동 (한↔영)",
    translateGo: "번역",
    translating: "번역 중…",
    translateResult: "번역 결과",
    translateDetected: "{from} → {to}",
    translateEmpty: "번역할 글을 입력해 주세요.",
    translateFailed: "번역하지 못했어요. 잠시 후 다시 시도해 주세요.",
    translateUnavailable: "지금은 번역 기능을 쓸 수 없어요.",
    copy: "복사",
    copied: "복사했어요",
    copyFailed: "복사하지 못했어요",
    langName_ko: "한국어",
    langName_en: "영어",
    emptyTitle: "무엇을 도와드릴까요?",
    emptyText: "게임 이용 중 궁금한 점을 한국어나 영어로 물어보세요. 짧은 요약(Nova Micro)과 자세한 분석(Nova Pro)이 동시에 작성됩니다.",
    example1: "폴이 레벨업을 못 해요",
    example2: "환불은 어떻게 신청하나요?",
    example3: "계정이 정지되었어요. 이의 신청은 어디서 하나요?",
    messageLabel: "질문",
    messagePlaceholder: "질문을 입력하세요",
    hint: "Enter 보내기 · Shift+Enter 줄바꿈 · Esc 중지",
    send: "보내기",
    stop: "중지",
    you: "질문",
    answer: "답변",
    translatedQuery: "번역된 질문",
    translatingQuery: "질문을 번역하는 중…",
    translationUnavailable: "질문 번역을 받지 못했어요.",
    entities: "인식된 캐릭터·용어",
    phase_answer: "답변",
    phase_staff_ko: "상담원용 답변 (한국어)",
    phase_customer_en: "고객용 답변 (영어)",
    part_micro: "요약",
    part_pro: "상세 분석",
    state_waiting: "작성 준비 중…",
    state_streaming: "작성 중…",
    state_done: "",
    state_stopped: "중지됨",
    state_error: "이 부분을 받지 못했어요",
    state_incomplete: "답변이 끝까지 오지 않았어요",
    sources: "참고 문서 {n}건",
    sourceScore: "관련도 {score}",
    sourceNoLink: "(링크 없음)",
    usage: "토큰 입력 {input} · 출력 {output} · 캐시 읽기 {cacheRead} · 캐시 쓰기 {cacheWrite}",
    cost: "예상 비용 {cost}",
    elapsed: "{s}초",
    requestId: "요청 ID {id}",
    simBackend: "시뮬레이터의 답변입니다 (실제 모델 아님)",
    stoppedNote: "답변을 중지했어요.",
    notice_guardrail: "콘텐츠 안전 필터(Bedrock 가드레일)가 이 답변을 막았어요. 질문을 바꿔서 다시 물어봐 주세요.",
    resuming: "연결이 끊겨 다시 연결하는 중… ({n})",
    resumed: "다시 연결했어요.",
    retry: "다시 시도",
    retryIn: "{s}초 후 다시 시도",
    status_sending: "질문을 보냈어요. 답변을 기다리는 중입니다.",
    status_done: "답변이 완료됐어요.",
    status_stopped: "답변을 중지했어요.",
    status_failed: "답변을 받지 못했어요.",
    err_network: "서버에 연결하지 못했어요. 인터넷 연결을 확인하고 다시 시도해 주세요.",
    err_lost: "연결이 끊겼고 다시 연결하지 못했어요. 다시 시도해 주세요.",
    err_gone: "이 답변은 더 이상 이어서 받을 수 없어요. 다시 질문해 주세요.",
    err_dropped: "연결이 끊겨 답변이 중간에 멈췄어요. 다시 시도해 주세요.",
    err_throttled: "지금 질문이 많아 답변이 늦어지고 있어요. 잠시 후 다시 시도해 주세요.",
    err_rate_limited: "질문을 너무 빨리 보내고 있어요. 잠시 후 다시 시도해 주세요.",
    err_overloaded: "지금 질문이 많아 처리하지 못했어요. 잠시 후 다시 시도해 주세요.",
    err_model_error: "답변을 작성하다 문제가 생겼어요. 다시 시도해 주세요.",
    err_timeout: "답변이 너무 오래 걸려 멈췄어요. 다시 시도해 주세요.",
    err_worker_lost: "답변을 작성하던 서버에 문제가 생겼어요. 다시 시도해 주세요.",
    err_unavailable: "서비스를 잠시 사용할 수 없어요. 잠시 후 다시 시도해 주세요.",
    err_internal: "예상하지 못한 문제가 생겼어요. 다시 시도해 주세요.",
    err_bad_request: "질문을 보낼 수 없어요. 질문이 비어 있거나 너무 길지 않은지 확인해 주세요.",
    err_payload_too_large: "질문이 너무 길어요. 조금 줄여서 보내 주세요.",
    err_unknown: "문제가 생겨 답변을 받지 못했어요. 다시 시도해 주세요.",
    tooLong: "질문은 4,000자까지 보낼 수 있어요.",
  },
  en: {
    pageTitle: "dual-nova customer support",
    title: "Customer support chat",
    subtitle: "Ask once: a quick overview and a detailed analysis arrive together",
    langLabel: "Language",
    clear: "Clear chat",
    clearDone: "The chat was cleared. A new conversation starts.",
    clearServerFailed: "The chat was cleared here, but the server could not forget it.",
    translateTitle: "Translator",
    translateLabel: "Text to translate",
    translateTarget: "Direction",
    translateAuto: "Automatic (Korean↔English)",
    translateGo: "Translate",
    translating: "Translating…",
    translateResult: "Translation",
    translateDetected: "{from} → {to}",
    translateEmpty: "Type something to translate.",
    translateFailed: "The translation did not work. Please try again in a moment.",
    translateUnavailable: "Translation is not available right now.",
    copy: "Copy",
    copied: "Copied",
    copyFailed: "Could not copy",
    langName_ko: "Korean",
    langName_en: "English",
    emptyTitle: "How can we help?",
    emptyText: "Ask about the game in English or Korean. A short overview (Nova Micro) and a detailed analysis (Nova Pro) are written at the same time.",
    example1: "Paul can't level up",
    example2: "How do I ask for a refund?",
    example3: "My account was suspended. Where can I appeal?",
    messageLabel: "Your question",
    messagePlaceholder: "Type your question",
    hint: "Enter to send · Shift+Enter for a new line · Esc to stop",
    send: "Send",
    stop: "Stop",
    you: "Question",
    answer: "Answer",
    translatedQuery: "Translated question",
    translatingQuery: "Translating the question…",
    translationUnavailable: "The question's translation did not arrive.",
    entities: "Characters and terms found",
    phase_answer: "Answer",
    phase_staff_ko: "Staff answer (Korean)",
    phase_customer_en: "Customer answer (English)",
    part_micro: "Overview",
    part_pro: "Detailed analysis",
    state_waiting: "Getting ready…",
    state_streaming: "Writing…",
    state_done: "",
    state_stopped: "Stopped",
    state_error: "This part did not arrive",
    state_incomplete: "This part did not arrive in full",
    sources: "Sources ({n})",
    sourceScore: "relevance {score}",
    sourceNoLink: "(no link)",
    usage: "Tokens in {input} · out {output} · cache read {cacheRead} · cache write {cacheWrite}",
    cost: "est. cost {cost}",
    elapsed: "{s} s",
    requestId: "request {id}",
    simBackend: "Answered by the simulator (not a real model)",
    stoppedNote: "You stopped this answer.",
    notice_guardrail: "The content safety filter (a Bedrock guardrail) blocked this answer. Please rephrase your question.",
    resuming: "Connection lost, reconnecting… ({n})",
    resumed: "Reconnected.",
    retry: "Try again",
    retryIn: "Try again in {s} s",
    status_sending: "Question sent. Waiting for the answer.",
    status_done: "The answer is complete.",
    status_stopped: "The answer was stopped.",
    status_failed: "The answer did not arrive.",
    err_network: "We could not reach the server. Check your connection and try again.",
    err_lost: "The connection dropped and could not be restored. Please try again.",
    err_gone: "This answer can no longer be resumed. Please ask again.",
    err_dropped: "The connection dropped and the answer stopped halfway. Please try again.",
    err_throttled: "We are very busy and the answer is delayed. Please try again in a moment.",
    err_rate_limited: "You are sending questions too quickly. Please wait a moment and try again.",
    err_overloaded: "We are very busy right now. Please try again in a moment.",
    err_model_error: "Something went wrong while writing the answer. Please try again.",
    err_timeout: "The answer took too long and was stopped. Please try again.",
    err_worker_lost: "The server writing your answer had a problem. Please try again.",
    err_unavailable: "The service is briefly unavailable. Please try again in a moment.",
    err_internal: "Something unexpected went wrong. Please try again.",
    err_bad_request: "The question could not be sent. Make sure it is not empty or too long.",
    err_payload_too_large: "The question is too long. Please shorten it.",
    err_unknown: "Something went wrong and the answer did not arrive. Please try again.",
    tooLong: "Questions can be up to 4,000 characters.",
  },
};

const SECTIONS = {
  ko: {
    characters: "캐릭터", game_terms: "게임 용어", combat_terms: "전투 용어", items: "아이템",
    system_terms: "시스템 용어", character_terms: "캐릭터 용어", gameplay_terms: "게임플레이 용어",
    online_terms: "온라인 용어", mobile_terms: "모바일 용어", cs_terms: "고객 지원 용어",
  },
  en: {
    characters: "character", game_terms: "game term", combat_terms: "combat term", items: "item",
    system_terms: "system term", character_terms: "character term", gameplay_terms: "gameplay term",
    online_terms: "online term", mobile_terms: "mobile term", cs_terms: "support term",
  },
};

export const LANGS = ["ko", "en"];
let lang = "ko";

export function getLang() { return lang; }

export function setLang(l) { if (LANGS.includes(l)) lang = l; }

/** The text of `key` in the current (or given) language, {name}s filled from args. */
export function t(key, args, l = lang) {
  const table = STRINGS[l] || STRINGS.ko;
  let s = table[key];
  if (s === undefined) s = STRINGS.ko[key] !== undefined ? STRINGS.ko[key] : key;
  if (args) s = s.replace(/\{(\w+)\}/g, (m, k) => (args[k] !== undefined ? String(args[k]) : m));
  return s;
}

export function hasKey(key) { return STRINGS.ko[key] !== undefined; }

export function sectionName(section, l = lang) {
  return (SECTIONS[l] && SECTIONS[l][section]) || section;
}

/** Sets el's text to key (remembered, so a language switch re-translates it). */
export function setText(el, key, args) {
  el.dataset.i18n = key;
  if (args) el.dataset.i18nArgs = JSON.stringify(args);
  else delete el.dataset.i18nArgs;
  el.textContent = t(key, args);
}

/** Re-translates everything under root: text, placeholders, aria-labels, titles. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const args = el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : undefined;
    el.textContent = t(el.dataset.i18n, args);
  }
  for (const attr of ["placeholder", "aria-label", "title"]) {
    const data = "i18n" + attr.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase());
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.dataset[data]));
  }
  for (const el of root.querySelectorAll("[data-section]")) el.title = sectionName(el.dataset.section);
}
