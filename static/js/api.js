// api.js — one small JSON POST for the page's follow-up calls on an answer (feedback,
// handoff): the status, the parsed reply and, when the server refused, its own message
// ({"error": {"code", "message"}}, API.md), so the page can say what went wrong.

/**
 * POSTs body as JSON to path. Resolves to {ok, status, json, code, message}; a network failure
 * resolves too, with status 0. Never throws.
 */
export async function postJSON(path, body) {
  let res;
  try {
    res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
    });
  } catch (_) {
    return { ok: false, status: 0, json: null, code: "network", message: "" };
  }
  let json = null;
  try { json = await res.json(); } catch (_) { /* not JSON: the status says enough */ }
  const err = json && typeof json.error === "object" && json.error ? json.error : null;
  return {
    ok: res.ok,
    status: res.status,
    json,
    code: err && typeof err.code === "string" ? err.code : "",
    message: err && typeof err.message === "string" ? err.message.slice(0, 300) : "",
  };
}
