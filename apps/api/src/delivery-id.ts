import { ClientError } from "./http-errors";
import { quoted } from "./form-fields";

const MAX_DELIVERY_ID = 2_147_483_647; // deliveries.id is a Postgres integer

/**
 * The delivery id a provider echoes back (Twilio: the callback URL's query; SendGrid: custom_args, as a string).
 * Absent: undefined, and the report is matched by the provider's message id. Anything but a whole number that can be
 * a delivery's id is refused, naming `field`: passed on, it would fail in the database as a 5xx.
 */
export function parseDeliveryId(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new ClientError(400, `${field} is given more than once`);
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string" || !/^[1-9][0-9]{0,9}$/.test(text) || Number(text) > MAX_DELIVERY_ID) {
    const shown = typeof text === "string" ? quoted(text) : JSON.stringify(value);
    throw new ClientError(400, `${field} must be a delivery id (a whole number from 1 to ${MAX_DELIVERY_ID}), got ${shown}`);
  }
  return Number(text);
}
