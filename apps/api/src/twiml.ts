/** TwiML answers to an inbound message. */
export const EMPTY_TWIML = "<Response/>";

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!);
}

/** One reply message to the sender. */
export function messageTwiml(text: string): string {
  return `<Response><Message>${escapeXml(text)}</Message></Response>`;
}
