import { API_VERSION } from "./twilio-routes";

/** A text someone sends to one of the account's numbers. */
export interface InboundSms {
  /** The sender, E.164. */
  from: string;
  body: string;
  /** The account's number it was sent to; default the apps' TWILIO_FROM_NUMBER (SIMULATOR_TWILIO_FROM_NUMBER). */
  to?: string;
}

export type OptOutType = "STOP" | "START" | "HELP";

// Twilio's default keywords (Advanced Opt-Out as every account starts with it).
const KEYWORDS: ReadonlyMap<string, OptOutType> = new Map([
  ...["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"].map((k) => [k, "STOP"] as const),
  ...["START", "YES", "UNSTOP"].map((k) => [k, "START"] as const),
  ...["HELP", "INFO"].map((k) => [k, "HELP"] as const),
]);

/** The opt-out keyword a body is, if it is one: the whole body, trimmed, in any case, as Twilio matches them. */
export function optOutType(body: string): OptOutType | undefined {
  return KEYWORDS.get(body.trim().toUpperCase());
}

/**
 * The parameters of Twilio's incoming-message webhook for a text without media. OptOutType is there when the body is a
 * keyword, as Twilio adds it when Advanced Opt-Out handled the message.
 */
export function inboundParams(sms: { sid: string; accountSid: string; from: string; to: string; body: string }): Record<string, string> {
  const keyword = optOutType(sms.body);
  return {
    AccountSid: sms.accountSid,
    ApiVersion: API_VERSION,
    Body: sms.body,
    From: sms.from,
    MessageSid: sms.sid,
    NumMedia: "0",
    NumSegments: "1",
    SmsMessageSid: sms.sid,
    SmsSid: sms.sid,
    SmsStatus: "received",
    To: sms.to,
    ...(keyword && { OptOutType: keyword }),
  };
}
