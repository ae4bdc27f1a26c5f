import type { ProviderReport } from "@nudge/db";
import { parseDeliveryId } from "./delivery-id";
import { quoted, storable } from "./form-fields";
import { ClientError } from "./http-errors";

const SID = /^[A-Za-z0-9]{2,64}$/;
const STATUS = /^[A-Za-z-]{1,40}$/;

function field(form: Record<string, string>, name: string): string | undefined {
  const value = form[name]?.trim();
  return value === "" ? undefined : value;
}

/**
 * A Twilio status callback as a report. Message callbacks carry MessageSid/MessageStatus (and the older
 * SmsSid/SmsStatus, the same values); call callbacks carry CallSid/CallStatus. The event key is the sid and the status:
 * Twilio sends each status of a message once, so the same pair again is a replay.
 */
export function twilioStatusReport(query: Record<string, unknown>, form: Record<string, string>): ProviderReport {
  const deliveryId = parseDeliveryId(query.deliveryId, "deliveryId");
  const messageSid = field(form, "MessageSid") ?? field(form, "SmsSid");
  const callSid = messageSid === undefined ? field(form, "CallSid") : undefined;
  const sid = messageSid ?? callSid;
  if (sid === undefined) throw new ClientError(400, "MessageSid (or SmsSid, or CallSid) is missing");
  const status = messageSid !== undefined ? (field(form, "MessageStatus") ?? field(form, "SmsStatus")) : field(form, "CallStatus");
  if (status === undefined) throw new ClientError(400, messageSid !== undefined ? "MessageStatus (or SmsStatus) is missing" : "CallStatus is missing");
  if (!SID.test(sid)) throw new ClientError(400, `${messageSid !== undefined ? "MessageSid" : "CallSid"} ${quoted(sid)} is not a Twilio sid`);
  if (!STATUS.test(status)) throw new ClientError(400, `${messageSid !== undefined ? "MessageStatus" : "CallStatus"} ${quoted(status)} is not a Twilio status`);
  const code = field(form, "ErrorCode");
  const text = field(form, "ErrorMessage");
  const detail = code !== undefined && text !== undefined ? `${code}: ${text}` : (code ?? text);
  return {
    provider: "twilio",
    eventKey: `${sid}:${status.toLowerCase()}`,
    deliveryId,
    providerMessageId: sid,
    status: status.toLowerCase(),
    detail: detail === undefined ? undefined : storable(detail),
  };
}
