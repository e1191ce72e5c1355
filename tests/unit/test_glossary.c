/* Unit tests for common/product/glossary.c: loading the shipped glossary (and proving it is the
 * reference file), strict schema errors, matching (particles, case, word boundaries, blanks,
 * longest match, order, each entry once) and the prompt format.
 *
 * Paths are relative to the repo root (tests/run starts there); the reference is
 * ../shared/reference/game_glossary.json, compared byte for byte when present. */
#include "product/glossary.h"

#include <stdlib.h>
#include <unistd.h>

#include "core/buf.h"
#include "test.h"

#define SHIPPED "config/game_glossary.json"
#define REFERENCE "../shared/reference/game_glossary.json"

static struct glossary *shipped;

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 1 << 24);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, len);
}

static struct glossary *parse(const char *json, char *err, size_t errlen)
{
    err[0] = '\0';
    return glossary_parse(json, strlen(json), err, errlen);
}

/* The entries found in text, as "Name@offset+len" joined by spaces. */
static const char *found(const struct glossary *g, const char *text)
{
    static char out[1024];
    struct glossary_match m[16];
    size_t n = glossary_find(g, text, strlen(text), m, 16);
    out[0] = '\0';
    for (size_t i = 0; i < n && i < 16; i++) {
        size_t used = strlen(out);
        snprintf(out + used, sizeof out - used, "%s%s@%zu+%zu", i ? " " : "",
                 m[i].entry->canonical, m[i].offset, m[i].len);
    }
    return out;
}

static const struct glossary_entry *by_name(const struct glossary *g, const char *name)
{
    for (size_t i = 0; i < glossary_count(g); i++)
        if (strcmp(glossary_entry_at(g, i)->canonical, name) == 0)
            return glossary_entry_at(g, i);
    return NULL;
}

static void test_shipped_is_the_reference(void)
{
    size_t a_len = 0, b_len = 0;
    char *a = read_all(SHIPPED, &a_len);
    CHECK(a != NULL && a_len > 0);
    char *b = read_all(REFERENCE, &b_len);
    if (b) /* the reference is outside the repo; compared where it exists */
        CHECK(a && a_len == b_len && memcmp(a, b, a_len) == 0);
    else
        printf("  (no %s here: byte comparison skipped)\n", REFERENCE);
    free(a);
    free(b);
}

static void test_load_shipped(void)
{
    char err[256] = "";
    shipped = glossary_load_file(SHIPPED, err, sizeof err);
    if (!shipped) {
        fprintf(stderr, "  %s\n", err);
        CHECK(!"the shipped glossary loads");
        exit(1);
    }
    CHECK(glossary_count(shipped) == 97);
    const struct glossary_entry *e = glossary_entry_at(shipped, 0);
    CHECK_STR_EQ(e->canonical, "Paul");
    CHECK_STR_EQ(e->section, "characters");
    CHECK_STR_EQ(e->description, "주인공 캐릭터 이름");
    CHECK_STR_EQ(e->kind, "protagonist");
    CHECK_STR_EQ(e->korean, "주인공"); /* the first Hangul alias, as the schema says */
    CHECK(e->n_aliases == 4);
    CHECK_STR_EQ(e->aliases[1], "폴");
    e = by_name(shipped, "Hogan");
    CHECK(e && strcmp(e->korean, "공대한") == 0 && strcmp(e->kind, "supporting") == 0);
    e = by_name(shipped, "Player vs Player");
    CHECK(e && e->korean == NULL && strcmp(e->kind, "basic") == 0);
    CHECK_STR_EQ(e->section, "game_terms");
    e = glossary_entry_at(shipped, 96);
    CHECK_STR_EQ(e->canonical, "Connection Issue");
    CHECK_STR_EQ(e->section, "cs_terms");
    CHECK(glossary_entry_at(shipped, 97) == NULL);
    size_t sections = 0;
    for (size_t i = 0; i < glossary_count(shipped); i++)
        sections += i == 0 || strcmp(glossary_entry_at(shipped, i)->section,
                                     glossary_entry_at(shipped, i - 1)->section) != 0;
    CHECK(sections == 10);
}

static void test_characters_with_particles(void)
{
    CHECK_STR_EQ(found(shipped, "폴이 레벨업을 못 해요"), "Paul@0+3 Level Up@7+9");
    CHECK_STR_EQ(found(shipped, "주인공은 누구예요"), "Paul@0+9");
    CHECK_STR_EQ(found(shipped, "공대한에게 말을 걸어요"), "Hogan@0+9");
    CHECK_STR_EQ(found(shipped, "마누엘은 어디 있나요?"), "Manuel@0+9");
    CHECK_STR_EQ(found(shipped, "에이전트 C를 만났어요"), "Agent C@0+14");
    /* One-syllable alias: a particle, two stacked, or the end of the word. */
    CHECK_STR_EQ(found(shipped, "폴에게서는"), "Paul@0+3");
    CHECK_STR_EQ(found(shipped, "폴이랑은"), "Paul@0+3");
    CHECK_STR_EQ(found(shipped, "폴한테서도"), "Paul@0+3");
    CHECK_STR_EQ(found(shipped, "폴이에요"), "Paul@0+3");
    CHECK_STR_EQ(found(shipped, "그건 폴."), "Paul@7+3");
    CHECK_STR_EQ(found(shipped, "폴ㅋㅋ"), "Paul@0+3"); /* jamo end the word */
    CHECK_STR_EQ(found(shipped, "핑이 높아요"), "Ping@0+3");
    CHECK_STR_EQ(found(shipped, "킥을 당했어요"), "Kick@0+3");
}

static void test_not_inside_other_words(void)
{
    CHECK_STR_EQ(found(shipped, "폴더가 안 열려요"), "");  /* folder */
    CHECK_STR_EQ(found(shipped, "폴리곤"), "");
    CHECK_STR_EQ(found(shipped, "폴라로이드"), "");
    CHECK_STR_EQ(found(shipped, "핑크색 밴드 킥보드"), "");
    CHECK_STR_EQ(found(shipped, "아폴"), "");               /* not at the word's start */
    /* "과금" inside "무과금" is not In-app Purchase; "무과금" itself is Free-to-play. */
    CHECK_STR_EQ(found(shipped, "무과금으로"), "Free-to-play@0+9");
    CHECK_STR_EQ(found(shipped, "paula apaul paul2 paulo"), "");
    CHECK_STR_EQ(found(shipped, "bugs? debugging"), "");
    CHECK_STR_EQ(found(shipped, "2XP XP2"), "");
}

static void test_english_any_case(void)
{
    CHECK_STR_EQ(found(shipped, "PAUL"), "Paul@0+4");
    CHECK_STR_EQ(found(shipped, "paul's sword"), "Paul@0+4");
    CHECK_STR_EQ(found(shipped, "Where is pAuL?"), "Paul@9+4");
    CHECK_STR_EQ(found(shipped, "(Hogan)"), "Hogan@1+5");
    CHECK_STR_EQ(found(shipped, "pvp, PvE and NPC"),
                 "Player vs Player@0+3 Player vs Environment@5+3 Non-Player Character@13+3");
    /* Latin aliases take Korean particles directly. */
    CHECK_STR_EQ(found(shipped, "XP가 부족하고 HP를 모르겠어요"),
                 "Experience Points@0+2 Health Points@19+2");
    CHECK_STR_EQ(found(shipped, "FREE-TO-PLAY"), "Free-to-play@0+12");
}

static void test_every_alias_finds_its_entry(void)
{
    struct buf t;
    buf_init(&t, 4096);
    for (size_t i = 0; i < glossary_count(shipped); i++) {
        const struct glossary_entry *e = glossary_entry_at(shipped, i);
        for (size_t k = 0; k <= e->n_aliases; k++) {
            const char *alias = k == 0 ? e->canonical : e->aliases[k - 1];
            /* Alone, after a blank, with a particle or a possessive. */
            const char *suffixes[] = {"", "을", "'s", "이 안 돼요"};
            for (size_t s = 0; s < 4; s++) {
                buf_reset(&t);
                buf_printf(&t, "  %s%s", alias, suffixes[s]);
                struct glossary_match m[4];
                size_t n = glossary_find(shipped, t.data, t.len, m, 4);
                if (n < 1 || m[0].entry != e || m[0].offset != 2 || m[0].len != strlen(alias)) {
                    fprintf(stderr, "  [%s] gave [%s]\n", t.data, found(shipped, t.data));
                    CHECK(!"every alias finds its entry");
                }
            }
        }
    }
    buf_free(&t);
}

static void test_longest_match_wins(void)
{
    CHECK_STR_EQ(found(shipped, "skill tree"), "Skill Tree@0+10");
    CHECK_STR_EQ(found(shipped, "my rare item"), "Rare Item@3+9");
    CHECK_STR_EQ(found(shipped, "로그인 문제가 있어요, 로그인이"), "Login Issue@0+16 Login@31+9");
    CHECK_STR_EQ(found(shipped, "voice chat, then chat"), "Voice Chat@0+10 Chat@17+4");
    char err[256];
    struct glossary *g = parse("{\"t\": {\"Player\": {}, \"VS\": {},"
                               " \"Player vs Player\": {\"aliases\": [\"PvP\"]},"
                               " \"set\": {}, \"set item\": {}, \"item list\": {}}}",
                               err, sizeof err);
    CHECK(g != NULL);
    if (!g)
        return;
    CHECK_STR_EQ(found(g, "Player vs Player, then player"),
                 "Player vs Player@0+16 Player@23+6");
    CHECK_STR_EQ(found(g, "player vs npc"), "Player@0+6 VS@7+2");
    /* "item list" (9) beats "set item" (8) it overlaps; "set" does not overlap it and stays. */
    CHECK_STR_EQ(found(g, "set item list"), "set@0+3 item list@4+9");
    glossary_free(g);
}

static void test_flexible_blanks(void)
{
    CHECK_STR_EQ(found(shipped, "agent   c"), "Agent C@0+9");
    CHECK_STR_EQ(found(shipped, "AGENT\tC?"), "Agent C@0+7");
    CHECK_STR_EQ(found(shipped, "level\n  up"), "Level Up@0+10");
    CHECK_STR_EQ(found(shipped, "player  vs\u3000player"), "Player vs Player@0+19");
    CHECK_STR_EQ(found(shipped, "agentc levelup"), "");
    /* Korean spacing is loose: a blank next to Hangul may be left out. */
    CHECK_STR_EQ(found(shipped, "레어아이템을 샀어요"), "Rare Item@0+15");
    CHECK_STR_EQ(found(shipped, "에이전트C가"), "Agent C@0+13");
    CHECK_STR_EQ(found(shipped, "스킬  트리"), "Skill Tree@0+14");
}

static void test_text_order_and_once(void)
{
    CHECK_STR_EQ(found(shipped, "던전에서 폴이 XP를 잃었어요"),
                 "Dungeon@0+6 Paul@13+3 Experience Points@20+2");
    /* The first match of each entry, whichever alias it used. */
    CHECK_STR_EQ(found(shipped, "환불 paul 폴 PAUL 주인공 refund"), "Refund@0+6 Paul@7+4");
    CHECK_STR_EQ(found(shipped, "길드 guild GUILD 길드원"), "Guild@0+6");
}

static void test_max_smaller_than_found(void)
{
    const char *text = "폴, 공대한, 마누엘, agent c, pvp";
    struct glossary_match m[3];
    memset(m, 0, sizeof m);
    CHECK(glossary_find(shipped, text, strlen(text), m, 2) == 5);
    CHECK(m[0].entry && strcmp(m[0].entry->canonical, "Paul") == 0);
    CHECK(m[1].entry && strcmp(m[1].entry->canonical, "Hogan") == 0);
    CHECK(m[2].entry == NULL);
    CHECK(glossary_find(shipped, text, strlen(text), NULL, 0) == 5);
    CHECK(glossary_find(shipped, "", 0, m, 3) == 0);
    CHECK(glossary_find(shipped, "nothing to see", 14, m, 3) == 0);
}

static void test_long_text(void)
{
    /* Past the stack room for matches and for the coverage bits. */
    struct buf t;
    buf_init(&t, 1 << 20);
    for (int i = 0; i < 3000; i++)
        buf_puts(&t, i % 2 ? "pvp " : "폴이 ");
    buf_puts(&t, "rare item");
    CHECK_STR_EQ(found(shipped, t.data), "Paul@0+3 Player vs Player@7+3 Rare Item@16500+9");
    buf_free(&t);
}

static void expect_error(const char *json, const char *want)
{
    char err[256];
    struct glossary *g = parse(json, err, sizeof err);
    CHECK(g == NULL);
    if (strncmp(err, want, strlen(want)) != 0) {
        fprintf(stderr, "  for %s\n", json);
        CHECK_STR_EQ(err, want);
    }
    glossary_free(g);
}

static void test_malformed_json(void)
{
    expect_error("", "line 1: not valid JSON: ");
    expect_error("{", "line 1: not valid JSON: ");
    expect_error("{\n\"a\": {},\n}", "line 3: not valid JSON: ");
    expect_error("{} x", "line 1: not valid JSON: ");
    expect_error("{\"a\": {}} {}", "line 1: not valid JSON: ");
    expect_error("[]", "the glossary must be a JSON object of sections");
    expect_error("null", "the glossary must be a JSON object of sections");
    expect_error("\"x\"", "the glossary must be a JSON object of sections");
    char deep[100];
    memset(deep, '[', sizeof deep);
    memcpy(deep, "{\"a\":", 5);
    deep[sizeof deep - 1] = '\0';
    expect_error(deep, "line 1: not valid JSON: ");
    char err[256];
    CHECK(glossary_parse("{\"a\":{}}\xFF", 9, err, sizeof err) == NULL);
    CHECK(glossary_parse("{}\0", 3, err, sizeof err) == NULL);
    CHECK(strncmp(err, "line 1: not valid JSON: ", 24) == 0);
    CHECK(glossary_parse("{\"a\":\"\xC0\xAF\"}", 10, err, sizeof err) == NULL);
}

static void test_wrong_types(void)
{
    expect_error("{\"characters\": []}", "section \"characters\" must be an object");
    expect_error("{\"c\": {\"Paul\": \"폴\"}}", "\"c\" / \"Paul\": the entry must be an object");
    expect_error("{\"c\": {\"Paul\": {\"aliases\": \"폴\"}}}",
                 "\"c\" / \"Paul\": \"aliases\" must be an array");
    expect_error("{\"c\": {\"Paul\": {\"aliases\": [\"폴\", 1]}}}",
                 "\"c\" / \"Paul\": \"aliases\"[1] must be a string");
    expect_error("{\"c\": {\"Paul\": {\"aliases\": [\" \\t\"]}}}",
                 "\"c\" / \"Paul\": \"aliases\"[0] is empty");
    expect_error("{\"c\": {\"Paul\": {\"description\": 1}}}",
                 "\"c\" / \"Paul\": \"description\" must be a string");
    expect_error("{\"c\": {\"Paul\": {\"type\": []}}}",
                 "\"c\" / \"Paul\": \"type\" must be a string");
    expect_error("{\"c\": {\"Paul\": {\"type\": \"x\", \"category\": {}}}}",
                 "\"c\" / \"Paul\": \"category\" must be a string");
    expect_error("{\"c\": {\"Paul\": {\"description\": \"a\\u0000b\"}}}",
                 "\"c\" / \"Paul\": \"description\" contains a NUL character");
    /* json-c's own UTF-8 check lets an encoded surrogate through (and reads a lone surrogate
     * escape as U+FFFD); the glossary's check names the alias. */
    expect_error("{\"c\": {\"Paul\": {\"aliases\": [\"\xED\xA0\x80\"]}}}",
                 "\"c\" / \"Paul\": \"aliases\"[0] is not valid UTF-8");
    expect_error("{\"c\": {\"\": {}}}", "section \"c\": an entry name is empty");
    struct buf j;
    buf_init(&j, 1 << 24);
    buf_puts(&j, "{\"c\": {\"Paul\": {\"aliases\": [");
    for (int i = 0; i < 65; i++)
        buf_printf(&j, "%s\"a%d\"", i ? "," : "", i);
    buf_puts(&j, "]}}}");
    expect_error(j.data, "\"c\" / \"Paul\": more than 64 aliases");
    buf_reset(&j);
    buf_puts(&j, "{\"a\": {");
    for (int i = 0; i < 6000; i++)
        buf_printf(&j, "%s\"a%d\": {}", i ? "," : "", i);
    buf_puts(&j, "}, \"b\": {");
    for (int i = 0; i < 4001; i++)
        buf_printf(&j, "%s\"b%d\": {}", i ? "," : "", i);
    buf_puts(&j, "}}");
    expect_error(j.data, "more than 10000 entries");
    buf_reset(&j);
    buf_puts(&j, "{}");
    while (j.len <= GLOSSARY_MAX_BYTES)
        buf_putc(&j, ' ');
    expect_error(j.data, "larger than 4194304 bytes");
    buf_free(&j);
}

static void test_lenient_where_harmless(void)
{
    char err[256];
    /* Unknown keys are ignored, null is absent, an empty glossary is a glossary. */
    struct glossary *g = parse("{\"s\": {\"X\": {\"description\": null, \"aliases\": null,"
                               " \"note\": [1, 2]}}, \"empty\": {}}",
                               err, sizeof err);
    CHECK(g != NULL);
    if (g) {
        const struct glossary_entry *e = glossary_entry_at(g, 0);
        CHECK(glossary_count(g) == 1 && e->n_aliases == 0 && e->korean == NULL);
        CHECK_STR_EQ(e->description, "");
        CHECK_STR_EQ(e->kind, "");
        CHECK_STR_EQ(found(g, "x marks"), "X@0+1");
        glossary_free(g);
    }
    g = parse(" {} \n", err, sizeof err);
    CHECK(g != NULL && glossary_count(g) == 0);
    if (g) {
        CHECK(glossary_find(g, "폴", 3, NULL, 0) == 0);
        struct buf out;
        buf_init(&out, 100);
        CHECK(glossary_format(g, &out) == 0 && out.len == 0);
        buf_free(&out);
        glossary_free(g);
    }
    glossary_free(NULL);
}

static void test_load_file_errors(void)
{
    char err[256] = "";
    CHECK(glossary_load_file("no/such/glossary.json", err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "no/such/glossary.json: open: No such file or directory");
    char path[] = "/tmp/test_glossary_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"c\": {\"Paul\": {\"aliases\": [1]}}}", f);
    fclose(f);
    CHECK(glossary_load_file(path, err, sizeof err) == NULL);
    char want[300];
    snprintf(want, sizeof want, "%s: \"c\" / \"Paul\": \"aliases\"[0] must be a string", path);
    CHECK_STR_EQ(err, want);
    unlink(path);
    CHECK(glossary_load_file("config", err, sizeof err) == NULL); /* a directory */
    CHECK(strncmp(err, "config: read: ", 14) == 0);
}

static void test_format(void)
{
    struct buf out;
    buf_init(&out, 1 << 16);
    CHECK(glossary_format(shipped, &out) == 0);
    const char *s = buf_cstr(&out);
    const char *head = "## characters\n- Paul (주인공, 폴): 주인공 캐릭터 이름 [protagonist]\n"
                       "- Hogan (공대한): 게임 내 캐릭터 공대한 이름 [supporting]\n";
    CHECK(strncmp(s, head, strlen(head)) == 0);
    CHECK(strstr(s, "\n- Agent C (에이전트 C): 게임 내 조연 캐릭터 이름 [supporting]\n"
                    "## game_terms\n- Level Up (레벨업): 캐릭터의 레벨이 상승하는 것 [basic]\n"));
    CHECK(strstr(s, "\n- Experience Points / XP (경험치): 캐릭터 성장을 위한 포인트 [basic]\n"));
    CHECK(strstr(s, "\n- Player vs Player / PvP: 플레이어 대 플레이어 전투 [basic]\n"));
    CHECK(strstr(s, "\n- Enhancement / upgrade (강화): 아이템의 성능을 향상시키는 것 [item]\n"));
    CHECK(strstr(s, "\n- Draw / pull (뽑기): 랜덤으로 아이템이나 캐릭터 획득 [mobile]\n"));
    CHECK(strstr(s, "\n## cs_terms\n- Customer Support (고객 지원): 고객 서비스 [cs]\n"));
    CHECK(out.len > 0 && s[out.len - 1] == '\n');
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++)
        lines += s[i] == '\n';
    CHECK(lines == 97 + 10);
    /* Byte-identical every time: it is a cacheable prompt prefix. */
    struct buf again;
    buf_init(&again, 1 << 16);
    CHECK(glossary_format(shipped, &again) == 0);
    CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
    buf_free(&again);

    /* Full: -1 and the buffer as it was. */
    struct buf small;
    buf_init(&small, 200);
    buf_puts(&small, "before");
    CHECK(glossary_format(shipped, &small) == -1);
    CHECK_STR_EQ(buf_cstr(&small), "before");
    buf_free(&small);
    buf_free(&out);
}

static void test_format_sparse_entries(void)
{
    char err[256];
    struct glossary *g = parse("{\"s\": {\"Bare\": {}, \"Lines\": {\"description\": \"a\\nb\\tc\","
                               " \"aliases\": [\"LINES\", \"줄\", \"줄\", \"ln\", \"LN\"],"
                               " \"category\": \"x\"}}}",
                               err, sizeof err);
    CHECK(g != NULL);
    if (!g)
        return;
    struct buf out;
    buf_init(&out, 1000);
    CHECK(glossary_format(g, &out) == 0);
    CHECK_STR_EQ(buf_cstr(&out), "## s\n- Bare\n- Lines / ln (줄): a b c [x]\n");
    buf_free(&out);
    glossary_free(g);
}

int main(void)
{
    RUN(test_shipped_is_the_reference);
    RUN(test_load_shipped);
    RUN(test_characters_with_particles);
    RUN(test_not_inside_other_words);
    RUN(test_english_any_case);
    RUN(test_every_alias_finds_its_entry);
    RUN(test_longest_match_wins);
    RUN(test_flexible_blanks);
    RUN(test_text_order_and_once);
    RUN(test_max_smaller_than_found);
    RUN(test_long_text);
    RUN(test_malformed_json);
    RUN(test_wrong_types);
    RUN(test_lenient_where_harmless);
    RUN(test_load_file_errors);
    RUN(test_format);
    RUN(test_format_sparse_entries);
    glossary_free(shipped);
    return test_summary();
}
