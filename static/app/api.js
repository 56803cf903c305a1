// Calling the worker's APIs with the signed-in key. The key lives in sessionStorage only: it is
// gone when the browser session ends, and every call sends it as `Authorization: Bearer <key>`.

const KEY = "leadlight.apiKey";

export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// Each surface words its errors its own way; this finds the message in any of them:
// {"error": "..."}, {"success": false, "error": {"message"}}, {"message": "..."},
// {"detail": "..."} and {"detail": [{"loc": [...], "msg": "..."}]}.
export function messageOf(body, status) {
  if (body && typeof body === "object") {
    if (typeof body.message === "string") return body.message;
    if (typeof body.error === "string") return body.error;
    if (body.error && typeof body.error.message === "string") return body.error.message;
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail) && body.detail.length) {
      return body.detail.map((d) => [d.loc && d.loc.slice(1).join("."), d.msg].filter(Boolean).join(": ")).join("; ");
    }
  }
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 300);
  return `Request failed (HTTP ${status})`;
}

let onUnauthorized = () => {};

export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export async function api(path, { method = "GET", params = {}, body, key = apiKey.get() } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${key ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, `Could not reach the server (${error.message})`, null);
  }
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text for the message
  }
  if (!response.ok) {
    const error = new ApiError(response.status, messageOf(data, response.status), data);
    if (response.status === 401 && key === apiKey.get()) onUnauthorized(error);
    throw error;
  }
  return data;
}
