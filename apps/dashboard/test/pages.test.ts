import { esc, html, page } from "../src/html";
import { DUMMY_HASH, hashPassword, verifyPassword } from "../src/password";
import { readCookie, sessionCookie, sessionIdHash } from "../src/session-cookie";

/** The dashboard's own building blocks: password hashes, the session cookie, and escaping in the pages. */

test("a password verifies against its own hash only; two hashes of one password differ (a salt each)", async () => {
  const a = await hashPassword("correct horse battery staple");
  const b = await hashPassword("correct horse battery staple");
  expect(a).not.toBe(b);
  expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  expect(await verifyPassword("correct horse battery staple", a)).toBe(true);
  expect(await verifyPassword("correct horse battery stapl", a)).toBe(false);
  expect(await verifyPassword("", DUMMY_HASH)).toBe(false);
  expect(await verifyPassword("x", "plain-text-password")).toBe(false);
});

test("the session cookie is HttpOnly, SameSite=Strict and Secure unless turned off; only a digest of its id is stored", () => {
  expect(sessionCookie("abc", { secure: true, maxAgeSeconds: 60 })).toBe("nudge_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
  expect(sessionCookie("abc", { secure: false, maxAgeSeconds: 60 })).not.toContain("Secure");
  expect(readCookie("a=1; nudge_session=xyz; b=2", "nudge_session")).toBe("xyz");
  expect(readCookie("nudge_sessionx=1", "nudge_session")).toBeUndefined();
  expect(sessionIdHash("xyz")).toMatch(/^[0-9a-f]{64}$/);
  expect(sessionIdHash("xyz")).not.toContain("xyz");
});

test("whatever a recipient, reason or body contains is shown as text, never as markup", () => {
  const hostile = `<script>alert("x")</script><img src=x onerror='y'>&`;
  const out = page(hostile, { name: hostile, role: "viewer" }, html`<td>${hostile}</td>${[hostile]}`);
  expect(out).not.toContain("<script>");
  expect(out).not.toContain("<img");
  expect(out).toContain(esc(hostile));
  expect(esc(`"'<>&`)).toBe("&#34;&#39;&#60;&#62;&#38;");
});
