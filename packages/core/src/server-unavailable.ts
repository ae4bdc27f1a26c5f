/**
 * Shared wording for "this server is not answering", used by each app's start-up checks (Postgres in @nudge/db,
 * Redis in @nudge/queue): one line, the URL with its password masked, and the cause without repeating the address.
 */
export function maskUrlPassword(serverUrl: string): string {
  try {
    const url = new URL(serverUrl);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(an unparsable URL)";
  }
}

/** `connect ECONNREFUSED` rather than the address again: the URL already names it. */
export function connectionErrorCause(error: Error): string {
  const { syscall, code } = error as { syscall?: string; code?: string };
  if (syscall && code) return `${syscall} ${code}`;
  if (/connection is closed/i.test(error.message)) return "connection closed";
  return error.message.replace(/\s+/g, " ").trim() || error.name;
}
