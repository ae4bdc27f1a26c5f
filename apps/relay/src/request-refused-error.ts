/**
 * A request that can never be applied as written (an invalid payload, an unknown kind or campaign, a contact with no
 * address for the channel). It is recorded with outcome `refused: <message>` and its outbox row is marked relayed
 * with the message as last_error, for the caller to see in its own database: retrying it would change nothing.
 */
export class RequestRefusedError extends Error {
  override readonly name = "RequestRefusedError";
}
