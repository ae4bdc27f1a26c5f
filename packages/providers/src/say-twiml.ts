const XML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/** The TwiML of a call that reads `text` aloud; the text is XML-escaped, so a body can never inject TwiML verbs. */
export function sayTwiml(text: string): string {
  return `<Response><Say>${text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!)}</Say></Response>`;
}
