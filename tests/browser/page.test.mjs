// The chat page in a real browser: Debian's headless Chromium, driven by playwright-core,
// against a real stack (nginx, nova-fcgi, workers, bedrock-sim) that tests/browser/browser.sh
// started. The page is loaded through a small TCP proxy started here, which passes every byte
// through unchanged, except when a test asks it to cut one chat connection mid-stream (the
// browser sees a dropped connection while the server keeps streaming to the proxy, or, asked
// so, the server sees its client go as well).
//
// Environment: NOVA_URL (the stack, http://127.0.0.1:PORT), ARTIFACTS (screenshots go there),
// CHROMIUM (default /usr/bin/chromium).
// Output: "ok NAME" / "FAIL NAME: why" per check; checks marked [issue 5] need the knowledge
// base, glossary, translation and sessions of issue 5. The last line is "N passed, N failed".

import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { chromium } from "playwright-core";
import { SSEParser, compareEventIds } from "../../static/js/sse.js";

const DIRECT = (process.env.NOVA_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const ARTIFACTS = process.env.ARTIFACTS || "build/test-artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WATCHDOG_MS = Number(process.env.BROWSER_TEST_TIMEOUT_MS || 300000);

// ---- checks

let passed = 0, failed = 0;
const t0 = Date.now();
function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail !== undefined ? ": " + String(detail).slice(0, 600) : ""}`);
  }
  return !!ok;
}
let aborted = false; // the watchdog or a signal fired: no further test starts
async function test(name, fn) {
  if (aborted) return;
  const start = Date.now();
  console.log(`# ${name}`);
  try {
    await fn();
  } catch (e) {
    check(`${name}: ran to the end`, false, (e && e.stack ? e.stack.split("\n").slice(0, 4).join(" | ") : e));
  }
  console.log(`# ${name}: ${Date.now() - start} ms`);
}
function summary() {
  console.log(`# total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HANGUL = /[\uAC00-\uD7A3]/;

// ---- the proxy: browser → proxy → nginx

function startProxy(target) {
  const u = new URL(target);
  const st = { armed: null, cuts: 0, resumes: [], sockets: new Set(), server: null, port: 0 };
  st.server = net.createServer((client) => {
    const up = net.connect(Number(u.port), u.hostname);
    st.sockets.add(client);
    st.sockets.add(up);
    let cutAfter = 0, cutBoth = false, deltas = 0, cut = false;
    client.on("data", (b) => {
      const s = b.toString("latin1");
      if (st.armed && s.startsWith("POST /api/chat ")) {
        cutAfter = st.armed.afterDeltas;
        cutBoth = !!st.armed.serverToo;
        st.armed = null;
        deltas = 0;
      }
      const m = /^GET \/api\/chat\/[^/ ]+\/events[^\r\n]*\r\n([\s\S]*?)\r\n\r\n/.exec(s);
      if (m) {
        const h = /^last-event-id:[ \t]*(.*)$/im.exec(m[1]);
        st.resumes.push(h ? h[1].trim() : null);
      }
      if (!cut) up.write(b);
    });
    up.on("data", (b) => {
      if (cut) return; // the server still streams to us; nobody hears it
      if (cutAfter) {
        deltas += (b.toString("latin1").match(/event: delta/g) || []).length;
        if (deltas >= cutAfter) {
          // Half of this chunk, then the connection ends mid-event.
          cut = true;
          st.cuts++;
          client.end(b.subarray(0, Math.floor(b.length / 2)));
          setTimeout(() => client.destroy(), 20);
          if (cutBoth) up.destroy(); // the server sees its client go too
          return;
        }
      }
      client.write(b);
    });
    client.on("error", () => {});
    up.on("error", () => {});
    client.on("close", () => { st.sockets.delete(client); if (!cut) up.destroy(); });
    up.on("close", () => { st.sockets.delete(up); client.destroy(); });
  });
  return new Promise((resolve, reject) => {
    st.server.once("error", reject);
    st.server.listen(0, "127.0.0.1", () => {
      st.port = st.server.address().port;
      resolve(st);
    });
  });
}

// ---- SSE transcript straight from the stack (what the page should show)

async function transcript(requestId) {
  const res = await fetch(`${DIRECT}/api/chat/${requestId}/events`, {
    headers: { "Last-Event-ID": "0", Accept: "text/event-stream" },
  });
  const text = await res.text();
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    let type = "message", data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) type = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) {
      try { events.push({ type, data: JSON.parse(data.join("\n")) }); } catch (_) { /* skip */ }
    }
  }
  return events;
}

function rawTexts(events) {
  const raw = {};
  for (const e of events) {
    if (e.type !== "delta") continue;
    const k = `${e.data.phase}/${e.data.model}`;
    raw[k] = (raw[k] || "") + e.data.text;
  }
  return raw;
}

// ---- browser

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nova-chromium-"));
let ctx = null, proxy = null;
const pageErrors = [], cspViolations = [], dialogs = [];

async function shutdown() {
  if (ctx) await ctx.close().catch(() => {});
  ctx = null;
  if (proxy) {
    for (const s of proxy.sockets) s.destroy();
    proxy.server.close();
    proxy = null;
  }
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => {
    aborted = true;
    console.log(`# ${sig}: stopping`);
    check("browser test finished", false, sig);
    await shutdown();
    summary();
    process.exit(1);
  });
}
setTimeout(async () => {
  aborted = true;
  check("browser test finished in time", false, `still running after ${WATCHDOG_MS} ms`);
  await shutdown();
  summary();
  process.exit(1);
}, WATCHDOG_MS).unref();

let BASE = "";

async function newPage(viewport = { width: 1280, height: 900 }) {
  const page = await ctx.newPage();
  await page.setViewportSize(viewport);
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => {
    if (/Content[ -]Security[ -]Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(BASE + "/");
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10000 });
  return page;
}

async function setLang(page, lang) {
  await page.click(`#lang-${lang}`);
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
}

/** Types a question and sends it with Enter; returns the POST /api/chat request. */
async function ask(page, text) {
  await page.fill("#message", text);
  const req = page.waitForRequest((r) => r.url().endsWith("/api/chat") && r.method() === "POST", { timeout: 5000 });
  await page.focus("#message");
  await page.keyboard.press("Enter");
  return req;
}

const lastAnswer = "#log > .turn:last-child .answer";

async function waitEnd(page, timeout = 30000) {
  await page.waitForFunction((sel) => {
    const a = document.querySelector(sel);
    return a && a.dataset.state !== "streaming";
  }, lastAnswer, { timeout });
  return page.$eval(lastAnswer, (a) => a.dataset.state);
}

/** The last answer's parts: text length, state, cursor, aria attributes. */
function snapshot(page) {
  return page.evaluate((sel) => {
    const a = document.querySelector(sel);
    if (!a) return null;
    const parts = {};
    for (const p of a.querySelectorAll(".part")) {
      const body = p.querySelector(".part-body");
      parts[`${p.dataset.phase}/${p.dataset.model}`] = {
        len: body.textContent.length, text: body.textContent, state: p.dataset.state,
        cursor: !!body.querySelector(".cursor"), live: body.getAttribute("aria-live"),
        busy: body.getAttribute("aria-busy"), hidden: p.hidden,
        md: !!body.querySelector("h4, h5, h6, li, strong, table"),
      };
    }
    return { state: a.dataset.state, parts, t: performance.now() };
  }, lastAnswer);
}

/** Samples the last answer every `every` ms until it ends. */
async function sampleUntilEnd(page, timeout = 30000, every = 40) {
  const out = [];
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const s = await snapshot(page);
    if (s) out.push(s);
    if (s && s.state !== "streaming") break;
    await sleep(every);
  }
  return out;
}

/** Both parts grew while both were still streaming: a sample with text in both, and a later one
 *  where both are at least `by` characters longer, neither finished. */
function grewTogether(samples, a, b, by = 10) {
  const live = (s) => s.parts[a] && s.parts[b] && s.parts[a].state === "streaming" && s.parts[b].state === "streaming";
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    if (!live(s) || !s.parts[a].len || !s.parts[b].len) continue;
    for (let j = i + 1; j < samples.length; j++) {
      const u = samples[j];
      if (!live(u)) break;
      if (u.parts[a].len >= s.parts[a].len + by && u.parts[b].len >= s.parts[b].len + by) return { first: s, later: u };
    }
  }
  return null;
}

/** A screenshot of the whole page: the viewport grows to the page's height, so the composer
 *  (sticky at the bottom) is drawn where a reader expects it. */
async function screenshotWhole(page, file) {
  const vp = page.viewportSize();
  const h = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: vp.width, height: Math.max(vp.height, Math.min(h, 4000)) });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file });
  await page.setViewportSize(vp);
}

async function visibleText(page, sel) {
  return page.$eval(sel, (e) => e.innerText).catch(() => "");
}

// ---- the tests

/** The page's SSE parser (static/js/sse.js has no DOM: it runs here as it runs in the page). */
function parserTests() {
  console.log("# the SSE parser");
  const run = (chunks) => {
    const evs = [];
    const p = new SSEParser((e) => evs.push(e));
    for (const c of chunks) p.feed(c);
    return evs;
  };
  const stream = "id: 1-0\r\nevent: meta\r\ndata: {\"a\":1}\r\n\r\n: ping\r\n\r\n" +
    "id: 2-0\nevent: delta\ndata: line one\ndata:line two\n\n" +
    "id: 3-0\revent: done\rdata: {}\r\r";
  const whole = run([stream]);
  check("CRLF, LF and CR line ends; comments skipped; multi-line data joined",
    whole.length === 3 && whole[0].type === "meta" && whole[0].id === "1-0" && whole[0].data === '{"a":1}' &&
    whole[1].data === "line one\nline two" && whole[2].type === "done" && whole[2].id === "3-0", JSON.stringify(whole));
  let same = true;
  for (let i = 1; i < stream.length; i++) {
    const split = run([stream.slice(0, i), stream.slice(i)]);
    if (JSON.stringify(split) !== JSON.stringify(whole)) { same = false; console.log(`#   differs when split at ${i}`); break; }
  }
  const bytes = run([...stream]);
  check("the same events whatever the chunking (every split point, char by char)", same && JSON.stringify(bytes) === JSON.stringify(whole));
  const p = [];
  const parser = new SSEParser((e) => p.push(e));
  parser.feed("id: 4-0\nevent: delta\ndata: {\"text\":\"half");
  parser.reset();
  parser.feed("id: 5-0\nevent: delta\ndata: {}\n\n");
  check("an event cut by a dropped connection is never dispatched", p.length === 1 && p[0].id === "5-0", JSON.stringify(p));
  const noData = run(["id: 6-0\nevent: x\n\n", "event: y\ndata: z\n\n"]);
  check("a block without data is not an event; an event without id has id null",
    noData.length === 1 && noData[0].type === "y" && noData[0].id === null, JSON.stringify(noData));
  check("event ids compare as Redis stream ids", compareEventIds("1795698365078-10", "1795698365078-9") === 1 &&
    compareEventIds("999-0", "1000-0") === -1 && compareEventIds("5-1", "5-1") === 0);
}

/** The rule behind safe rendering, kept by the sources themselves: no HTML parsing APIs. */
function sourceRules() {
  const dir = new URL("../../static/js/", import.meta.url);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".js"));
  const bad = [];
  for (const f of files) {
    const text = fs.readFileSync(new URL(f, dir), "utf8");
    for (const api of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "createContextualFragment", "DOMParser", "eval("]) {
      if (text.includes(api)) bad.push(`${f}: ${api}`);
    }
  }
  const html = fs.readFileSync(new URL("../../static/index.html", import.meta.url), "utf8");
  check("static/js uses no HTML-parsing API (innerHTML, insertAdjacentHTML, document.write…)", files.length >= 6 && bad.length === 0, bad.join(", "));
  check("index.html has no inline script or external resource", !/<script(?![^>]*\bsrc=)[^>]*>/i.test(html) &&
    !/(src|href)="(https?:)?\/\//i.test(html));
}

async function main() {
  parserTests();
  sourceRules();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  proxy = await startProxy(DIRECT);
  BASE = `http://127.0.0.1:${proxy.port}`;
  const launchStart = Date.now();
  ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    locale: "ko-KR",
  });
  ctx.setDefaultTimeout(15000);
  console.log(`# chromium ${ctx.browser() ? ctx.browser().version() : ""} up in ${Date.now() - launchStart} ms; page via proxy ${BASE} → ${DIRECT}`);

  await test("the page loads", async () => {
    const page = await newPage();
    const status = {};
    for (const f of ["/", "/style.css", "/vendor/markdown-it.min.js", "/js/app.js", "/js/answer.js", "/js/stream.js", "/js/sse.js", "/js/markdown.js", "/js/i18n.js"]) {
      const r = await page.request.get(BASE + f);
      status[f] = r.status() + " " + (r.headers()["content-type"] || "");
    }
    check("static files are served with their types", Object.values(status).every((s) => s.startsWith("200 ")) &&
      /javascript/.test(status["/js/app.js"]) && /javascript/.test(status["/vendor/markdown-it.min.js"]) &&
      /text\/css/.test(status["/style.css"]), JSON.stringify(status));
    await setLang(page, "ko");
    check("Korean page text", (await visibleText(page, "h1")).includes("고객 지원") &&
      (await page.getAttribute("#message", "placeholder")) === "질문을 입력하세요" &&
      (await visibleText(page, "#send")) === "보내기");
    check("the language switch says which language is on",
      (await page.getAttribute("#lang-ko", "aria-pressed")) === "true" && (await page.getAttribute("#lang-en", "aria-pressed")) === "false");
    const sid = await page.evaluate(() => sessionStorage.getItem("dual-nova.session"));
    check("a session id is kept in sessionStorage", /^[A-Za-z0-9_-]{8,64}$/.test(sid || ""), sid);
    await page.close();
  });

  await test("Korean question: Micro and Pro stream at the same time", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    const sid = await page.evaluate(() => sessionStorage.getItem("dual-nova.session"));
    const req = await ask(page, "폴이 레벨업을 못 해요 #sim:ttft=300 #sim:tps=50 #sim:len=200");
    const body = JSON.parse(req.postData() || "{}");
    check("the request carries the question, ui_lang ko and the session id",
      body.message && body.message.startsWith("폴이") && body.ui_lang === "ko" && body.session_id === sid, req.postData());
    const samples = await sampleUntilEnd(page, 30000);
    const g = grewTogether(samples, "answer/micro", "answer/pro");
    check("text grows in both parts before either finishes", g,
      `${samples.length} samples; last: ${JSON.stringify(samples.at(-1) && Object.fromEntries(Object.entries(samples.at(-1).parts).map(([k, v]) => [k, [v.len, v.state]])))}`);
    if (g) console.log(`#   micro ${g.first.parts["answer/micro"].len}→${g.later.parts["answer/micro"].len}, pro ${g.first.parts["answer/pro"].len}→${g.later.parts["answer/pro"].len} chars, both streaming`);
    const streaming = samples.filter((s) => s.state === "streaming" && s.parts["answer/micro"] && s.parts["answer/micro"].state === "streaming" && s.parts["answer/pro"].state === "streaming");
    check("a typing cursor shows in both parts while they stream", streaming.some((s) => s.parts["answer/micro"].cursor && s.parts["answer/pro"].cursor));
    check("the streaming regions are aria-live=polite and aria-busy while streaming",
      streaming.length > 0 && streaming.every((s) => s.parts["answer/micro"].live === "polite" && s.parts["answer/pro"].live === "polite" &&
        s.parts["answer/micro"].busy === "true" && s.parts["answer/pro"].busy === "true"));
    const end = samples.at(-1);
    check("the answer ends done, both parts done, cursors gone",
      end && end.state === "done" && end.parts["answer/micro"].state === "done" && end.parts["answer/pro"].state === "done" &&
      !end.parts["answer/micro"].cursor && !end.parts["answer/pro"].cursor && end.parts["answer/pro"].busy === "false",
      JSON.stringify(end && { state: end.state, micro: end.parts["answer/micro"].state, pro: end.parts["answer/pro"].state }));
    check("the parts are labelled 요약 · Nova Micro and 상세 분석 · Nova Pro",
      (await visibleText(page, `${lastAnswer} .part-micro .part-title`)).replace(/\s+/g, " ").includes("요약 Nova Micro") &&
      (await visibleText(page, `${lastAnswer} .part-pro .part-title`)).replace(/\s+/g, " ").includes("상세 분석 Nova Pro"));
    check("the Pro part's Markdown is rendered while it streams, frame by frame (structure before the end)",
      samples.some((x) => x.parts["answer/pro"] && x.parts["answer/pro"].state === "streaming" && x.parts["answer/pro"].md &&
        x.parts["answer/pro"].cursor));
    check("the Pro part's Markdown is rendered (headings, list items)",
      await page.$eval(`${lastAnswer} .part-pro .part-body`, (b) => !!b.querySelector("h4, h5, h6") && !!b.querySelector("li")));
    const foot = await visibleText(page, `${lastAnswer} .answer-foot`);
    check("usage and estimated cost are shown", /토큰 입력 \d[\d,]* · 출력 \d[\d,]*/.test(foot) && /예상 비용 \$\d/.test(foot), foot);
    const entities = await page.$$eval(`${lastAnswer} .entities .chip`, (c) => c.map((e) => e.textContent));
    check("[issue 5] the recognised characters and terms show as chips (Paul)", entities.some((e) => e.includes("Paul")), JSON.stringify(entities));
    const sources = await page.$$eval(`${lastAnswer} .sources .source`, (items) => items.map((li) => ({
      title: (li.querySelector(".source-title") || {}).textContent || "",
      href: (li.querySelector("a.source-title") || {}).href || "",
      score: (li.querySelector(".source-score") || {}).textContent || "",
      excerpt: (li.querySelector(".source-excerpt") || {}).textContent || "",
    })));
    check("[issue 5] the sources show title, score, excerpt and link",
      sources.length > 0 && sources.every((s) => s.title && /^https?:\/\//.test(s.href) && /\d\.\d\d/.test(s.score) && s.excerpt),
      JSON.stringify(sources).slice(0, 300));
    if (sources.length) {
      const closed = await page.$eval(`${lastAnswer} .sources`, (d) => !d.open);
      await page.click(`${lastAnswer} .sources summary`);
      const open = await page.$eval(`${lastAnswer} .sources`, (d) => d.open);
      check("[issue 5] the source list is collapsible (closed, opens on click)", closed && open);
    } else {
      check("[issue 5] the source list is collapsible (closed, opens on click)", false, "no sources");
    }
    await page.close();
  });

  await test("English mode: staff Korean and customer English sections", async () => {
    const page = await newPage();
    await setLang(page, "en");
    check("the page text switches to English",
      (await visibleText(page, "h1")).includes("Customer support chat") &&
      (await page.getAttribute("#message", "placeholder")) === "Type your question" &&
      (await visibleText(page, "#send")) === "Send" && (await page.getAttribute("html", "lang")) === "en");
    const req = await ask(page, "Paul cannot level up even though the XP bar is full #sim:tps=60 #sim:len=40");
    check("the request asks for ui_lang en", JSON.parse(req.postData() || "{}").ui_lang === "en");
    const samples = await sampleUntilEnd(page, 30000);
    const end = samples.at(-1) || { parts: {} };
    const titles = await page.$$eval(`${lastAnswer} .phase-title`, (h) => h.map((e) => e.textContent));
    check("two labelled sections: staff (Korean) and customer (English)",
      titles.length === 2 && titles[0] === "Staff answer (Korean)" && titles[1] === "Customer answer (English)", JSON.stringify(titles));
    const keys = ["staff_ko/micro", "staff_ko/pro", "customer_en/micro", "customer_en/pro"];
    check("each section has its Micro overview and Pro analysis, all done",
      end.state === "done" && keys.every((k) => end.parts[k] && end.parts[k].len > 0 && end.parts[k].state === "done"),
      JSON.stringify(Object.fromEntries(Object.entries(end.parts).map(([k, v]) => [k, [v.len, v.state]]))));
    check("the staff answer is Korean, the customer answer English",
      HANGUL.test((end.parts["staff_ko/micro"] || {}).text || "") && /[A-Za-z]{4,}/.test((end.parts["customer_en/micro"] || {}).text || "") &&
      !HANGUL.test((end.parts["customer_en/micro"] || {}).text || ""));
    check("each section's body is marked with its language",
      await page.$eval(`${lastAnswer} .part[data-phase="staff_ko"] .part-body`, (b) => b.lang) === "ko" &&
      await page.$eval(`${lastAnswer} .part[data-phase="customer_en"] .part-body`, (b) => b.lang) === "en");
    check("all four streams were live at once at some point",
      samples.some((s) => keys.every((k) => s.parts[k] && s.parts[k].len > 0 && s.parts[k].state === "streaming")) ||
      samples.some((s) => keys.filter((k) => s.parts[k] && s.parts[k].len > 0 && s.parts[k].state === "streaming").length >= 2));
    // A Korean question in English mode: its translation runs beside the answers and shows
    // when its event comes, after the first words (issue 14). The times are the page's own:
    // when the first Micro text and the translated question appeared in the new answer.
    await page.evaluate(() => {
      const turns = document.querySelectorAll("#log > .turn").length;
      window.__seen = { words: null, translation: null };
      const obs = new MutationObserver(() => {
        if (document.querySelectorAll("#log > .turn").length <= turns) return;
        const a = document.querySelector("#log > .turn:last-child .answer");
        if (!a) return;
        const now = performance.now();
        if (window.__seen.words === null &&
          [...a.querySelectorAll(".part-micro .part-body")].some((b) => b.textContent.trim().length > 0)) window.__seen.words = now;
        const q = a.querySelector(".translated q");
        if (window.__seen.translation === null && q && q.textContent) window.__seen.translation = now;
      });
      obs.observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true });
      window.__seenObserver = obs;
    });
    await ask(page, "폴이 레벨업을 못 해요 #sim:len=10");
    await waitEnd(page);
    const seen = await page.evaluate(() => { window.__seenObserver.disconnect(); return window.__seen; });
    const tq = await page.$eval(`${lastAnswer} .translated`, (p) => (p.hidden ? "" : p.textContent)).catch(() => "");
    check("[issue 5] the translated question is shown", /^Translated question\s+\S/.test(tq) && /[A-Za-z]/.test(tq.replace("Translated question", "")), tq);
    check("[issue 14] the translation arrives after the first Micro words",
      seen && seen.words !== null && seen.translation !== null && seen.translation > seen.words, JSON.stringify(seen));
    check("[issue 14] the translated question is marked with its language (English)",
      await page.$eval(`${lastAnswer} .translated q`, (q) => q.lang).catch(() => "") === "en");
    await screenshotWhole(page, path.join(ARTIFACTS, "page-en.png"));
    await page.close();
  });

  await test("Stop ends the answer with a stopped state", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    await ask(page, "환불은 어떻게 신청하나요? #sim:ttft=200 #sim:tps=8 #sim:len=400");
    await page.waitForFunction((sel) => {
      const p = document.querySelector(`${sel} .part-micro .part-body`);
      return p && p.textContent.length > 0;
    }, lastAnswer, { timeout: 10000 });
    check("the Stop button shows while the answer streams and Send is disabled",
      await page.isVisible("#stop") && await page.isDisabled("#send"));
    const cancel = page.waitForRequest((r) => /\/api\/chat\/[0-9A-Za-z_-]+\/cancel$/.test(r.url()) && r.method() === "POST", { timeout: 5000 });
    const clickedAt = Date.now();
    await page.click("#stop");
    const creq = await cancel.catch(() => null);
    const rid = await page.$eval(lastAnswer, (a) => a.dataset.requestId);
    check("Stop posts /api/chat/<request_id>/cancel", creq && creq.url().endsWith(`/api/chat/${rid}/cancel`), creq && creq.url());
    const state = await waitEnd(page, 10000).catch((e) => "timeout: " + e.message);
    const took = Date.now() - clickedAt;
    check("the answer ends in the stopped state soon after Stop", state === "stopped" && took < 6000, `${state} after ${took} ms`);
    const s1 = await snapshot(page);
    check("both parts show stopped, no cursor",
      s1 && ["answer/micro", "answer/pro"].every((k) => s1.parts[k].state === "stopped" && !s1.parts[k].cursor),
      JSON.stringify(s1 && Object.fromEntries(Object.entries(s1.parts).map(([k, v]) => [k, v.state]))));
    check("the stopped state is said in words", (await visibleText(page, lastAnswer)).includes("중지됨") &&
      (await visibleText(page, `${lastAnswer} .notice`)).includes("답변을 중지했어요"));
    await sleep(800);
    const s2 = await snapshot(page);
    check("no text arrives after the stop", s1 && s2 && s1.parts["answer/micro"].len === s2.parts["answer/micro"].len &&
      s1.parts["answer/pro"].len === s2.parts["answer/pro"].len);
    check("Send is back and Stop hidden", !(await page.isVisible("#stop")) && !(await page.isDisabled("#send")));
    await page.close();
  });

  await test("Korean IME: Enter during a composition does not send", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    const posts = [];
    page.on("request", (r) => { if (r.url().endsWith("/api/chat") && r.method() === "POST") posts.push(r.postData()); });
    const cdp = await ctx.newCDPSession(page);
    await page.focus("#message");
    await page.keyboard.insertText("레벨업 ");
    await cdp.send("Input.imeSetComposition", { text: "폴", selectionStart: 1, selectionEnd: 1 });
    // Record the keydown Chromium delivers for Enter while the composition is open (the
    // listener is in place before the key is pressed).
    await page.evaluate(() => {
      window.__enterKeydown = null;
      document.getElementById("message").addEventListener("keydown",
        (e) => { window.__enterKeydown = { key: e.key, isComposing: e.isComposing, keyCode: e.keyCode }; }, { once: true });
    });
    await page.keyboard.press("Enter");
    const ev = await page.evaluate(() => window.__enterKeydown);
    await sleep(400);
    check("the Enter keydown arrived while composing", ev && ev.key === "Enter" && ev.isComposing === true, JSON.stringify(ev));
    check("Enter during the composition sent nothing", posts.length === 0 && (await page.$$("#log .turn")).length === 0, `${posts.length} POSTs`);
    // Safari delivers the composition's Enter after compositionend, with keyCode 229.
    await cdp.send("Input.insertText", { text: "폴" }); // commits the composition
    await cdp.send("Input.dispatchKeyEvent", { type: "rawKeyDown", key: "Enter", code: "Enter", windowsVirtualKeyCode: 229, nativeVirtualKeyCode: 229 });
    await cdp.send("Input.dispatchKeyEvent", { type: "keyUp", key: "Enter", code: "Enter", windowsVirtualKeyCode: 13, nativeVirtualKeyCode: 13 });
    await sleep(300);
    check("an Enter with keyCode 229 (IME) sent nothing", posts.length === 0, `${posts.length} POSTs`);
    await page.keyboard.insertText("이 안 돼요");
    await page.keyboard.press("Shift+Enter");
    await page.keyboard.insertText("#sim:len=5");
    await sleep(200);
    const value = await page.inputValue("#message");
    check("Shift+Enter makes a new line and does not send", posts.length === 0 && value.includes("\n#sim:len=5"), JSON.stringify(value));
    const sent = page.waitForRequest((r) => r.url().endsWith("/api/chat") && r.method() === "POST", { timeout: 3000 }).catch(() => null);
    await page.keyboard.press("Enter");
    await sent;
    await sleep(300);
    const msg = posts.length ? JSON.parse(posts[0]).message : "";
    check("Enter after the commit sends, once, with the composed text",
      posts.length === 1 && msg.includes("폴") && msg.includes("레벨업") && msg.includes("\n#sim:len=5"), `${posts.length} POSTs: ${JSON.stringify(msg)}`);
    check("the composer is emptied after sending", (await page.inputValue("#message")) === "");
    await waitEnd(page);
    await page.close();
  });

  await test("model and knowledge-base text render as inert text (crafted stream)", async () => {
    const page = await newPage();
    await setLang(page, "en");
    const evil = "<img src=x onerror=alert(1)>";
    const meta = {
      request_id: "0123456789abcdef0123456789abcdef", session_id: "x".repeat(16), input_lang: "en", ui_lang: "en",
      translated_query: "<b>bold?</b> <img src=x onerror=alert(3)>",
      entities: [{ canonical: "<svg onload=alert(4)>", section: "characters", matched: "<i>x</i>" }],
      sources: [
        { title: "<script>alert(5)</script> guide", score: 0.91, excerpt: `Excerpt with ${evil} inside`, url: "javascript:alert(6)" },
        { title: "Normal guide", score: 0.5, excerpt: "ok", url: "https://support.example.com/en/guide" },
      ],
      phases: ["staff_ko", "customer_en"], backend: "sim",
    };
    const deltas = [
      ["customer_en", "micro", "Hello <script>alert(7)</script> and "], ["customer_en", "micro", `${evil} **bold** \`code <b>\``],
      ["customer_en", "pro", "## Title <img src=x onerror=alert(8)>\n\n1. step **one**\n2. step `two`\n\n- a [link](javascript:alert(9))\n- b https://support.example.com/x\n\n```\n<script>alert(10)</script>\n```\n"],
      ["staff_ko", "micro", "안녕하세요 <iframe src=javascript:alert(11)></iframe>"], ["staff_ko", "pro", "### 단계\n- <a href=\"javascript:alert(12)\">x</a>"],
    ];
    let sse = `id: 1-0\nevent: meta\ndata: ${JSON.stringify(meta)}\n\n: ping\n\n`;
    let n = 1;
    for (const [phase, model, text] of deltas) sse += `id: ${++n}-0\nevent: delta\ndata: ${JSON.stringify({ phase, model, text })}\n\n`;
    // One event split over two data lines (joined with a newline, still one JSON value).
    sse += `id: ${++n}-0\nevent: delta\ndata: {"phase":"customer_en","model":"micro",\ndata: "text":" end."}\n\n`;
    for (const phase of ["staff_ko", "customer_en"]) for (const model of ["micro", "pro"])
      sse += `id: ${++n}-0\nevent: model_done\ndata: ${JSON.stringify({ phase, model, stop_reason: "end_turn", usage: {} })}\n\n`;
    sse += `id: ${++n}-0\nevent: done\ndata: {"usage":{"input_tokens":1,"output_tokens":2,"cache_read_tokens":0,"cache_write_tokens":0},"cost_usd":0.0001,"elapsed_ms":5}\n\n`;
    sse = sse.replace(/\n/g, "\r\n"); // served with CRLF line ends
    await page.route("**/api/chat", (route) => route.fulfill({ status: 200, headers: { "Content-Type": "text/event-stream" }, body: sse }), { times: 1 });
    await ask(page, "crafted");
    const state = await waitEnd(page, 10000);
    await page.click(`${lastAnswer} .sources summary`);
    await sleep(300);
    const dom = await page.evaluate(() => {
      const log = document.getElementById("log");
      return {
        elements: log.querySelectorAll("img, script, iframe, svg, b, i, object, embed").length,
        jsLinks: [...log.querySelectorAll("a")].filter((a) => !/^https?:/.test(a.href)).length,
        text: log.innerText,
        strong: log.querySelectorAll(".part-body strong").length,
        code: log.querySelectorAll(".part-body code").length,
        pre: log.querySelectorAll(".part-body pre").length,
        li: log.querySelectorAll(".part-body li").length,
        ol: log.querySelectorAll(".part-body ol").length,
        heading: log.querySelectorAll(".part-body h4, .part-body h5, .part-body h6").length,
        links: [...log.querySelectorAll(".part-body a")].map((a) => a.href),
      };
    });
    check("the crafted answer completes", state === "done", state);
    check("no element comes from model or knowledge-base text (img, script, iframe, svg, b, i)", dom.elements === 0, dom.elements);
    check("no javascript: link is made", dom.jsLinks === 0, dom.jsLinks);
    check("the markup shows as literal text", dom.text.includes("<script>alert(7)</script>") && dom.text.includes(evil) && dom.text.includes("code <b> end.") &&
      dom.text.includes("<script>alert(5)</script> guide") && dom.text.includes("<svg onload=alert(4)>") && dom.text.includes("<b>bold?</b>"));
    check("the Markdown subset becomes DOM (headings, ordered and bullet lists, bold, code)",
      dom.heading >= 2 && dom.ol === 1 && dom.li >= 5 && dom.strong >= 2 && dom.code >= 2 && dom.pre === 1, JSON.stringify(dom).slice(0, 300));
    check("a bare https URL becomes a safe link", dom.links.length === 1 && dom.links[0] === "https://support.example.com/x", JSON.stringify(dom.links));
    check("no script ran (no dialog, no CSP violation)", dialogs.length === 0 && cspViolations.length === 0, JSON.stringify([dialogs, cspViolations]));
    await page.close();
  });

  await test("markdown-it: GFM tables, [text](url) links, CommonMark emphasis, plain excerpts (crafted stream)", async () => {
    const page = await newPage();
    await setLang(page, "en");
    const meta = {
      request_id: "0123456789abcdef0123456789abcd31", session_id: "z".repeat(16), input_lang: "en", ui_lang: "en",
      entities: [], phases: ["staff_ko", "customer_en"], backend: "sim",
      sources: [{ title: "Refunds", score: 0.8, url: "https://support.example.com/en/refund",
        excerpt: "# Refunds\n\n## How long\n\nRefunds take **3 days** after `approval`.\n\n- one *item*" }],
    };
    const pro = "| Item | Days |\n|:--|--:|\n| Refund | **3** |\n| Appeal | 7 |\n\n" +
      "See [the refund guide](https://support.example.com/en/refund) or [bad](javascript:alert(31)) or [data](data:text/html,x) or [rel](/local).\n\n" +
      "Set window.__xss=1 and read window.__xss back. Also snake_case_name and __real bold__.\n";
    // The Pro answer arrives in small pieces, cut inside the table and inside the link.
    const pieces = [];
    for (let i = 0; i < pro.length; i += 7) pieces.push(pro.slice(i, i + 7));
    let sse = `id: 1-0\nevent: meta\ndata: ${JSON.stringify(meta)}\n\n`, n = 1;
    for (const text of pieces) sse += `id: ${++n}-0\nevent: delta\ndata: ${JSON.stringify({ phase: "customer_en", model: "pro", text })}\n\n`;
    for (const [phase, model, text] of [["customer_en", "micro", "Plain *em* text."], ["staff_ko", "micro", "안녕하세요."], ["staff_ko", "pro", "| 항목 | 기간 |\n|---|---|\n| 환불 | 3일 |"]])
      sse += `id: ${++n}-0\nevent: delta\ndata: ${JSON.stringify({ phase, model, text })}\n\n`;
    for (const phase of ["staff_ko", "customer_en"]) for (const model of ["micro", "pro"])
      sse += `id: ${++n}-0\nevent: model_done\ndata: ${JSON.stringify({ phase, model, stop_reason: "end_turn", usage: {} })}\n\n`;
    sse += `id: ${++n}-0\nevent: done\ndata: {"usage":{"input_tokens":1,"output_tokens":2,"cache_read_tokens":0,"cache_write_tokens":0},"cost_usd":0.0001,"elapsed_ms":5}\n\n`;
    await page.route("**/api/chat", (route) => route.fulfill({ status: 200, headers: { "Content-Type": "text/event-stream" }, body: sse }), { times: 1 });
    await ask(page, "crafted markdown");
    const state = await waitEnd(page, 10000);
    const dom = await page.evaluate((sel) => {
      const a = document.querySelector(sel);
      const body = a.querySelector('.part[data-phase="customer_en"][data-model="pro"] .part-body');
      const table = body.querySelector("table");
      const links = [...body.querySelectorAll("a")];
      const xssP = [...body.querySelectorAll("p")].find((p) => p.textContent.includes("window.__xss"));
      return {
        table: !!table,
        head: table ? [...table.querySelectorAll("thead th")].map((e) => e.textContent) : [],
        cells: table ? [...table.querySelectorAll("tbody td")].map((e) => e.textContent) : [],
        bold3: table ? !!table.querySelector("tbody td strong") : false,
        align: table ? [...table.querySelectorAll("tbody tr:first-child td")].map((e) => e.style.textAlign) : [],
        koTable: !!a.querySelector('.part[data-phase="staff_ko"][data-model="pro"] .part-body table'),
        links: links.map((l) => ({ href: l.getAttribute("href"), text: l.textContent, rel: l.rel, target: l.target })),
        text: body.textContent,
        xssText: xssP ? xssP.textContent : "",
        xssStrong: xssP ? [...xssP.querySelectorAll("strong")].map((e) => e.textContent) : null,
        excerpt: (a.querySelector(".source-excerpt") || {}).textContent || "",
      };
    }, lastAnswer);
    check("the crafted Markdown answer completes", state === "done", state);
    check("a GFM table renders as <table> with its header, cells and column alignment",
      dom.table && dom.koTable && JSON.stringify(dom.head) === '["Item","Days"]' &&
      JSON.stringify(dom.cells) === '["Refund","3","Appeal","7"]' && dom.bold3 && JSON.stringify(dom.align) === '["left","right"]', JSON.stringify(dom));
    check("[text](https://…) renders as <a href> opening apart (noopener noreferrer, _blank)",
      dom.links.length === 1 && dom.links[0].href === "https://support.example.com/en/refund" && dom.links[0].text === "the refund guide" &&
      /noopener/.test(dom.links[0].rel) && /noreferrer/.test(dom.links[0].rel) && dom.links[0].target === "_blank", JSON.stringify(dom.links));
    check("javascript:, data: and relative link targets stay text",
      dom.text.includes("[bad](javascript:alert(31))") && dom.text.includes("[data](data:text/html,x)") && dom.text.includes("[rel](/local)"), dom.text);
    check("window.__xss=1 … window.__xss is not bold (CommonMark); __real bold__ is",
      dom.xssText.includes("Set window.__xss=1 and read window.__xss back.") && dom.xssText.includes("snake_case_name") &&
      JSON.stringify(dom.xssStrong) === '["real bold"]', JSON.stringify([dom.xssText, dom.xssStrong]));
    check("a source excerpt shows text, without # and ** markers",
      dom.excerpt.includes("Refunds take 3 days after approval.") && dom.excerpt.startsWith("Refunds") && !/[#*`]/.test(dom.excerpt), dom.excerpt);
    check("no script ran (no dialog, no CSP violation)", dialogs.length === 0 && cspViolations.length === 0, JSON.stringify([dialogs, cspViolations]));
    await page.close();
  });

  await test("static/vendor/markdown-it.min.js is the file of the locked markdown-it", async () => {
    const r = spawnSync("scripts/vendor-page", ["--check"], { cwd: new URL("../..", import.meta.url), encoding: "utf8", timeout: 120000 });
    check("scripts/vendor-page --check: the committed file equals the locked tarball's (npm ci verified its sha512)",
      r.status === 0, (r.stdout || "") + (r.stderr || "") + (r.error ? String(r.error) : ""));
  });

  await test("the translation event: inert text, replaced by a quiet note when it fails (crafted streams)", async () => {
    const page = await newPage();
    await setLang(page, "en");
    const meta = (rid) => ({
      request_id: rid, session_id: "y".repeat(16), input_lang: "en", ui_lang: "en", translating: "ko",
      entities: [], sources: [{ title: "Guide", score: 0.5, excerpt: "ok", url: "https://support.example.com/en/guide" }],
      phases: ["staff_ko", "customer_en"], backend: "sim",
    });
    const stream = (rid, translationEvent) => {
      let sse = `id: 1-0\nevent: meta\ndata: ${JSON.stringify(meta(rid))}\n\n`, n = 1;
      for (const phase of ["staff_ko", "customer_en"]) for (const model of ["micro", "pro"])
        sse += `id: ${++n}-0\nevent: delta\ndata: ${JSON.stringify({ phase, model, text: phase === "staff_ko" ? "안녕하세요." : "Hello." })}\n\n`;
      sse += `id: ${++n}-0\n${translationEvent}\n\n`;
      for (const phase of ["staff_ko", "customer_en"]) for (const model of ["micro", "pro"])
        sse += `id: ${++n}-0\nevent: model_done\ndata: ${JSON.stringify({ phase, model, stop_reason: "end_turn", usage: {} })}\n\n`;
      return sse + `id: ${++n}-0\nevent: done\ndata: {"usage":{"input_tokens":1,"output_tokens":2,"cache_read_tokens":0,"cache_write_tokens":0},"cost_usd":0.0001,"elapsed_ms":5}\n\n`;
    };
    const ok = `event: translation\ndata: ${JSON.stringify({ phase: "translate_ko", model: "pro", translated_query: "폴 <img src=x onerror=alert(21)> 레벨업", source_language: "en", target_language: "ko", usage: { input_tokens: 3 } })}`;
    const failed = `event: error\ndata: ${JSON.stringify({ phase: "translate_ko", model: "pro", code: "throttled", message: "busy", retryable: true })}`;
    const bodies = [stream("0123456789abcdef0123456789abcde1", ok), stream("0123456789abcdef0123456789abcde2", failed)];
    await page.route("**/api/chat", (route) => route.fulfill({ status: 200, headers: { "Content-Type": "text/event-stream" }, body: bodies.shift() }), { times: 2 });
    await ask(page, "crafted translation");
    const st1 = await waitEnd(page, 10000);
    const one = await page.evaluate((sel) => {
      const a = document.querySelector(sel), q = a.querySelector(".translated q");
      return { q: q ? q.textContent : "", lang: q ? q.lang : "", imgs: a.querySelectorAll("img").length,
        sections: a.querySelectorAll(".phase").length, translateParts: a.querySelectorAll('[data-phase^="translate"]').length };
    }, lastAnswer);
    check("a translation event shows the translated question as text, in its language",
      st1 === "done" && one.q === "폴 <img src=x onerror=alert(21)> 레벨업" && one.lang === "ko" && one.imgs === 0, JSON.stringify([st1, one]));
    check("the translation is no answer part or section", one.sections === 2 && one.translateParts === 0, JSON.stringify(one));
    await ask(page, "crafted failed translation");
    const st2 = await waitEnd(page, 10000);
    const two = await page.evaluate((sel) => {
      const a = document.querySelector(sel), tr = a.querySelector(".translated");
      return { note: tr.hidden ? "" : tr.textContent, state: tr.dataset.state, error: !a.querySelector(".error").hidden,
        parts: [...a.querySelectorAll(".part")].map((p) => p.dataset.state), translateParts: a.querySelectorAll('[data-phase^="translate"]').length };
    }, lastAnswer);
    check("a failed translation is a quiet note; the answers still end done, with no error shown",
      st2 === "done" && two.state === "failed" && /did not arrive/.test(two.note) && !two.error &&
      two.parts.length === 4 && two.parts.every((p) => p === "done") && two.translateParts === 0, JSON.stringify([st2, two]));
    check("no script ran (no dialog, no CSP violation)", dialogs.length === 0 && cspViolations.length === 0, JSON.stringify([dialogs, cspViolations]));
    await page.close();
  });

  await test("knowledge-base <img onerror> and model <script> from the real stack stay inert", async () => {
    const page = await newPage();
    await setLang(page, "en");
    await ask(page, "What is the XSS probe item? Its description shows odd markup.");
    const state = await waitEnd(page, 30000);
    const sum = await page.$(`${lastAnswer} .sources summary`);
    if (sum && await sum.isVisible()) await sum.click();
    await sleep(200);
    const dom = await page.evaluate((sel) => {
      const a = document.querySelector(sel);
      return {
        elements: document.getElementById("log").querySelectorAll("img, script, iframe, svg").length,
        excerpts: [...a.querySelectorAll(".source-excerpt")].map((e) => e.textContent),
        answer: [...a.querySelectorAll(".part-body")].map((e) => e.textContent).join("\n"),
      };
    }, lastAnswer);
    check("the answer completes", state === "done", state);
    check("[issue 5] the source excerpt shows <img src=x onerror=alert(1)> as text",
      dom.excerpts.some((e) => e.includes("<img src=x onerror=alert(1)>")), JSON.stringify(dom.excerpts).slice(0, 300));
    check("[issue 5] the model's answer shows <script> as text", dom.answer.includes("<script>alert(2)</script>"), dom.answer.slice(0, 300));
    check("no img, script, iframe or svg element in the chat", dom.elements === 0, dom.elements);
    check("no script ran (no dialog, no CSP violation)", dialogs.length === 0 && cspViolations.length === 0, JSON.stringify([dialogs, cspViolations]));
    await page.close();
  });

  await test("a dropped connection resumes the same answer without duplicating text", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    const resumesBefore = proxy.resumes.length;
    proxy.armed = { afterDeltas: 8 };
    await ask(page, "폴이 레벨업을 못 해요. 경험치가 안 올라요 #sim:tps=30 #sim:len=60");
    const state = await waitEnd(page, 30000);
    check("the proxy cut the chat connection mid-stream", proxy.cuts >= 1, proxy.cuts);
    const resumes = proxy.resumes.slice(resumesBefore);
    check("the page resumed with GET /api/chat/<id>/events and Last-Event-ID",
      resumes.length >= 1 && resumes.every((h) => /^\d+-\d+$/.test(h || "")), JSON.stringify(resumes));
    check("the answer ends done, without an error", state === "done" && !(await page.isVisible(`${lastAnswer} .error`)), state);
    const rid = await page.$eval(lastAnswer, (a) => a.dataset.requestId);
    const raw = rawTexts(await transcript(rid));
    const expected = await page.evaluate(async (r) => {
      const { renderMarkdown } = await import("/js/markdown.js");
      const out = {};
      for (const [k, v] of Object.entries(r)) {
        const d = document.createElement("div");
        d.append(renderMarkdown(v).fragment);
        out[k] = d.textContent;
      }
      return out;
    }, raw);
    const s = await snapshot(page);
    for (const k of ["answer/micro", "answer/pro"]) {
      check(`${k}: the page's text equals the server's transcript (nothing lost, nothing twice)`,
        expected[k] && s.parts[k] && s.parts[k].text === expected[k],
        `page ${s.parts[k] && s.parts[k].text.length} chars, transcript ${expected[k] && expected[k].length}`);
    }
    await page.close();
  });

  await test("a drop the server notices: the answer ends truthfully, without duplicated text", async () => {
    // nova-fcgi cancels the jobs of a client that went away; the page resumes, replays what
    // was said up to the cancel, and says the answer was cut short (it did not press Stop).
    const page = await newPage();
    await setLang(page, "ko");
    proxy.armed = { afterDeltas: 8, serverToo: true };
    const cutsBefore = proxy.cuts;
    await ask(page, "환불은 어떻게 신청하나요? 결제한 지 3일 됐어요 #sim:tps=30 #sim:len=90");
    const state = await waitEnd(page, 30000);
    check("the proxy cut both sides mid-stream", proxy.cuts === cutsBefore + 1);
    const err = await page.$eval(`${lastAnswer} .error`, (e) => (e.hidden ? "" : e.dataset.key)).catch(() => "");
    check("the answer either completes or says the connection dropped, with a retry (never 'stopped')",
      (state === "done" && err === "") || (state === "error" && err === "err_dropped" && await page.isVisible(`${lastAnswer} .retry`)),
      `${state} ${err}`);
    console.log(`#   ended ${state}${err ? " (" + err + ")" : ""}`);
    const rid = await page.$eval(lastAnswer, (a) => a.dataset.requestId);
    const raw = rawTexts(await transcript(rid));
    const expected = await page.evaluate(async (r) => {
      const { renderMarkdown } = await import("/js/markdown.js");
      const out = {};
      for (const [k, v] of Object.entries(r)) {
        const d = document.createElement("div");
        d.append(renderMarkdown(v).fragment);
        out[k] = d.textContent;
      }
      return out;
    }, raw);
    const s = await snapshot(page);
    for (const k of ["answer/micro", "answer/pro"]) {
      check(`${k}: the page's text equals the server's transcript`, s.parts[k] && s.parts[k].text === (expected[k] || ""),
        `page ${s.parts[k] && s.parts[k].text.length} chars, transcript ${(expected[k] || "").length}`);
    }
    await page.close();
  });

  await test("typed errors are shown in words, with a retry", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    // A model stream that fails: error model_error (retryable) from the real stack.
    await ask(page, "폴이 레벨업을 못 해요 #sim:stream-error=2");
    let state = await waitEnd(page, 20000);
    const err = await visibleText(page, `${lastAnswer} .error`);
    check("a failed model stream ends in the error state with words a player understands",
      state === "error" && err.includes("답변을 작성하다 문제가 생겼어요") && !/model_error|model_stream/.test(await visibleText(page, lastAnswer)), `${state}: ${err}`);
    check("a retry button is offered", await page.isVisible(`${lastAnswer} .error .retry`));
    const again = page.waitForRequest((r) => r.url().endsWith("/api/chat") && r.method() === "POST", { timeout: 5000 }).catch(() => null);
    await page.click(`${lastAnswer} .error .retry`);
    check("retry sends the question again", !!(await again));
    state = await waitEnd(page, 20000);
    check("the retried answer ends (here: the same error again)", state === "error");

    // 429 with Retry-After, as nginx sends it.
    await page.route("**/api/chat", (route) => route.fulfill({
      status: 429, headers: { "Content-Type": "application/json", "Retry-After": "2" },
      body: '{"error":{"code":"rate_limited","message":"too many requests","request_id":"r1"}}',
    }), { times: 1 });
    await ask(page, "환불은 어떻게 신청하나요? #sim:len=8");
    state = await waitEnd(page, 10000);
    const e429 = await visibleText(page, `${lastAnswer} .error`);
    check("HTTP 429 says to wait, in words", state === "error" && e429.includes("질문을 너무 빨리 보내고 있어요"), e429);
    check("the retry waits for Retry-After", await page.isDisabled(`${lastAnswer} .retry`) && /\d초 후 다시 시도/.test(await visibleText(page, `${lastAnswer} .retry`)));
    await page.waitForFunction((sel) => !document.querySelector(`${sel} .retry`).disabled, lastAnswer, { timeout: 5000 });
    await page.click(`${lastAnswer} .retry`);
    state = await waitEnd(page, 20000);
    check("after the wait, retry gets the answer", state === "done" && !(await page.isVisible(`${lastAnswer} .error`)),
      `${state}: ${await visibleText(page, `${lastAnswer} .error`)} ${await page.$eval(lastAnswer, (a) => a.dataset.requestId || "")}`);

    // 503 from a stack that lost Redis or its workers.
    await page.route("**/api/chat", (route) => route.fulfill({
      status: 503, headers: { "Content-Type": "application/json" },
      body: '{"error":{"code":"unavailable","message":"no live worker for queue pro","request_id":"r2"}}',
    }), { times: 1 });
    await ask(page, "서버 점검 중인가요?");
    state = await waitEnd(page, 10000);
    const e503 = await visibleText(page, `${lastAnswer} .error`);
    check("HTTP 503 says the service is briefly unavailable, with a retry",
      state === "error" && e503.includes("서비스를 잠시 사용할 수 없어요") && await page.isVisible(`${lastAnswer} .retry`) &&
      !e503.includes("no live worker"), e503);
    await setLang(page, "en");
    check("the error words follow the language switch", (await visibleText(page, `${lastAnswer} .error`)).includes("The service is briefly unavailable"));
    await page.close();
  });

  await test("clear chat forgets the session", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    await ask(page, "폴이 레벨업을 못 해요 #sim:len=5");
    await waitEnd(page);
    const old = await page.evaluate(() => sessionStorage.getItem("dual-nova.session"));
    const del = page.waitForResponse((r) => r.url().includes("/api/session/") && r.request().method() === "DELETE", { timeout: 5000 }).catch(() => null);
    await page.click("#clear");
    const res = await del;
    const fresh = await page.evaluate(() => sessionStorage.getItem("dual-nova.session"));
    check("the chat log is emptied", (await page.$$("#log .turn")).length === 0 && await page.isVisible("#empty"));
    check("DELETE /api/session/<old id> is sent", res && res.url().endsWith(`/api/session/${old}`), res && res.url());
    check("[issue 5] the server forgets the session (200 or 204)", res && (res.status() === 200 || res.status() === 204), res && res.status());
    check("a fresh session id replaces the old one", fresh && fresh !== old && /^[A-Za-z0-9_-]{8,64}$/.test(fresh));
    const req = await ask(page, "환불 #sim:len=3");
    check("the next question uses the fresh session id", JSON.parse(req.postData() || "{}").session_id === fresh);
    await waitEnd(page);
    await page.close();
  });

  await test("translate box", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    await page.click("#translate summary");
    await page.fill("#tr-text", "폴이 레벨업을 못 해요");
    await page.selectOption("#tr-target", "en");
    const resp = page.waitForResponse((r) => r.url().endsWith("/api/translate"), { timeout: 15000 }).catch(() => null);
    await page.click("#tr-go");
    const r = await resp;
    await page.waitForFunction(() => ["done", "error"].includes(document.getElementById("tr-result").dataset.state), null, { timeout: 15000 });
    const st = await page.$eval("#tr-result", (e) => e.dataset.state);
    const shown = await visibleText(page, "#tr-result");
    check("the translate box answers in words (a translation or why not)", shown.trim().length > 0, shown);
    check("[issue 5] POST /api/translate returns the translation and the page shows it",
      r && r.status() === 200 && st === "done" && /[A-Za-z]{3,}/.test(await visibleText(page, "#tr-result .tr-text")),
      `${r && r.status()} ${st}: ${shown}`);
    await page.close();
  });

  await test("no document found: the notice instead of an answer", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    await ask(page, "qzxv wkpj 9137 fnord");
    const state = await waitEnd(page, 20000);
    const notice = await page.$eval(`${lastAnswer} .notice`, (n) => (n.hidden ? "" : n.dataset.code + ": " + n.textContent)).catch(() => "");
    check("[issue 5] a no_documents notice is shown in words, with no model parts", state === "done" && notice.startsWith("no_documents: ") &&
      notice.length > "no_documents: ".length && (await page.$$(`${lastAnswer} .part:not([hidden])`)).length === 0, `${state} ${notice}`);
    await page.close();
  });

  // [issue 17, gaps] The stack runs with a guardrail configured (browser.sh); the simulator
  // intervenes on #sim:guardrail as Bedrock does (stopReason guardrail_intervened).
  await test("a guardrail's intervention: the notice in words, in both languages", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    await ask(page, "환불 규정을 알려주세요 #sim:guardrail");
    const state = await waitEnd(page, 20000);
    const notice = await page.$eval(`${lastAnswer} .notice`, (n) => (n.hidden ? "" : n.dataset.code + ": " + n.textContent)).catch(() => "");
    check("[issue 17] a guardrail notice is shown in Korean words, not as a code", state !== "streaming" &&
      notice.startsWith("guardrail: ") && HANGUL.test(notice) && notice.includes("가드레일") &&
      !notice.includes("guardrail_intervened"), `${state} ${notice}`);
    const role = await page.$eval(`${lastAnswer} .notice`, (n) => n.getAttribute("role")).catch(() => "");
    check("[issue 17] the guardrail notice is a note for assistive technology", role === "note", role);
    await setLang(page, "en");
    const en = await page.$eval(`${lastAnswer} .notice`, (n) => n.textContent).catch(() => "");
    check("[issue 17] the guardrail notice follows the language switch (English words)",
      /content safety filter/i.test(en) && /rephrase/i.test(en) && !HANGUL.test(en), en);
    await page.close();
  });

  await test("keyboard only", async () => {
    const page = await newPage();
    await setLang(page, "ko");
    // A fresh load (the language is remembered), so Tab starts at the top of the page.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    const order = [];
    for (let i = 0; i < 14; i++) {
      await page.keyboard.press("Tab");
      order.push(await page.evaluate(() => {
        const e = document.activeElement;
        return e ? (e.id || (e.tagName === "SUMMARY" ? "summary:" + e.parentElement.id : e.className || e.tagName)) : "";
      }));
    }
    const want = ["lang-ko", "lang-en", "clear", "summary:translate", "example", "message", "send"];
    check("Tab reaches the language switch, clear, translator, examples, the question box and Send, in order",
      want.every((w) => order.includes(w)) && want.map((w) => order.indexOf(w)).every((v, i, a) => i === 0 || v > a[i - 1]), order.join(" → "));
    check("focus is visible (outline on :focus-visible)", await page.evaluate(() => {
      const e = document.activeElement;
      return getComputedStyle(e).outlineStyle !== "none";
    }));
    // From the language switch to a sent question and a stop, with keys only.
    await page.focus("#lang-en");
    await page.keyboard.press("Enter");
    check("Enter on the English button switches the page", (await page.getAttribute("html", "lang")) === "en");
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Space");
    check("Space on the Korean button switches back", (await page.getAttribute("html", "lang")) === "ko");
    await page.focus("#message");
    await page.keyboard.insertText("환불은 어떻게 신청하나요? #sim:tps=8 #sim:len=300");
    await page.keyboard.press("Enter");
    await page.waitForFunction((sel) => {
      const p = document.querySelector(`${sel} .part-micro .part-body`);
      return p && p.textContent.length > 0;
    }, lastAnswer, { timeout: 10000 });
    await page.keyboard.press("Escape");
    const state = await waitEnd(page, 10000).catch(() => "timeout");
    check("Escape stops the answer", state === "stopped", state);
    check("focus stays in the question box", await page.evaluate(() => document.activeElement.id) === "message");
    await page.close();
  });

  await test("phone-width screen and the screenshots", async () => {
    const page = await newPage({ width: 390, height: 844 });
    await setLang(page, "ko");
    await ask(page, "폴이 레벨업을 못 해요");
    await waitEnd(page, 30000);
    await page.evaluate(() => window.scrollTo(0, 0));
    const m = await page.evaluate(() => {
      const c = document.getElementById("composer").getBoundingClientRect();
      const s = document.getElementById("send").getBoundingClientRect();
      return { sw: document.documentElement.scrollWidth, iw: window.innerWidth, cBottom: c.bottom, ih: window.innerHeight, sendH: s.height, sendW: s.width };
    });
    check("no horizontal scrolling at 390 px", m.sw <= m.iw, JSON.stringify(m));
    check("the question box and Send stay on screen, Send is a thumb-sized target", m.cBottom <= m.ih + 1 && m.sendH >= 40 && m.sendW >= 44, JSON.stringify(m));
    const fontPx = await page.$eval(`${lastAnswer} .part-body`, (b) => parseFloat(getComputedStyle(b).fontSize));
    check("answer text is at least 15 px", fontPx >= 15, fontPx);
    await screenshotWhole(page, path.join(ARTIFACTS, "page-phone.png"));
    await page.close();

    const desk = await newPage({ width: 1180, height: 900 });
    await setLang(desk, "ko");
    await ask(desk, "폴이 레벨업을 못 해요");
    await waitEnd(desk, 30000);
    const sum = await desk.$(`${lastAnswer} .sources summary`);
    if (sum && await sum.isVisible()) await sum.click();
    const file = path.join(ARTIFACTS, "page.png");
    await screenshotWhole(desk, file);
    check("the page screenshot is saved", fs.statSync(file).size > 10000, file);
    await desk.close();
  });

  check("no uncaught error in the page", pageErrors.length === 0, JSON.stringify(pageErrors));
  check("no Content-Security-Policy violation", cspViolations.length === 0, JSON.stringify(cspViolations));
}

main()
  .catch((e) => check("browser test ran", false, e && e.stack ? e.stack : e))
  .finally(async () => {
    await shutdown();
    summary();
    process.exit(failed ? 1 : 0);
  });
