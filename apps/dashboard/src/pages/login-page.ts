import { html, type Html } from "../html";

export function loginPage(error: string | undefined, next: string): Html {
  return html`<form method="post" action="/login" class="card" style="max-width:320px">
${error ? html`<p role="alert" style="color:#a00">${error}</p>` : ""}
<input type="hidden" name="next" value="${next}">
<p><label>Name<br><input name="name" autocomplete="username" required></label></p>
<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p></form>`;
}
