import http from "node:http";
import https from "node:https";
import { twilioSignature } from "./twilio-signature";

export type SimLogger = (entry: Record<string, unknown>) => void;

export interface CallbackStep {
  params: Record<string, string>;
  apply?: () => void;
}

const CALLBACK_TIMEOUT_MS = 5_000;

/**
 * Posts Twilio-style status callbacks, signed like Twilio signs them. A callback that cannot be delivered is logged
 * and dropped (Twilio does not retry status callbacks either); it never affects the simulator.
 */
export class StatusCallbacks {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<http.ClientRequest>();
  // Own agents, so that close() leaves no pooled socket behind.
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });
  private closed = false;

  constructor(
    private readonly options: { authToken: () => string; delayMs: () => number; log: SimLogger },
  ) {}

  /**
   * Walks a resource through its status steps, `delayMs` apart, the first one `delayMs` from now: each step first
   * applies its status change to the resource, then (when the request carried a StatusCallback) posts its parameters.
   * Without a callback URL the steps apply at once: nothing is waiting to hear about them.
   */
  schedule(url: string | undefined, steps: CallbackStep[]): void {
    if (url === undefined) {
      for (const step of steps) step.apply?.();
      return;
    }
    if (this.closed || steps.length === 0) return;
    const [first, ...rest] = steps;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      first!.apply?.();
      this.post(url, first!.params);
      this.schedule(url, rest);
    }, this.options.delayMs());
    this.timers.add(timer);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const request of this.inFlight) request.destroy();
    this.inFlight.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** Cancels what is pending but keeps accepting new callbacks (used by reset). */
  cancelPending(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private post(url: string, params: Record<string, string>): void {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      this.options.log({ msg: "status callback skipped: invalid URL", url });
      return;
    }
    const body = new URLSearchParams(params).toString();
    const secure = target.protocol === "https:";
    const request = (secure ? https : http).request(target, {
      method: "POST",
      agent: secure ? this.httpsAgent : this.httpAgent,
      timeout: CALLBACK_TIMEOUT_MS,
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": Buffer.byteLength(body),
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": twilioSignature(this.options.authToken(), url, params),
      },
    });
    this.inFlight.add(request);
    const done = (): void => {
      this.inFlight.delete(request);
    };
    request.on("response", (response) => {
      response.resume();
      response.on("end", done);
      response.on("error", done);
      if (response.statusCode === undefined || response.statusCode >= 400) {
        this.options.log({ msg: "status callback answered with an error", url, status: response.statusCode });
      }
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${CALLBACK_TIMEOUT_MS} ms`)));
    request.on("error", (err) => {
      done();
      if (!this.closed) this.options.log({ msg: "status callback failed", url, err: err.message });
    });
    request.end(body);
  }
}
