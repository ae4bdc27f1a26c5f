import http from "node:http";
import https from "node:https";

export type SimLogger = (entry: Record<string, unknown>) => void;

/** A webhook ready to post: the body as it travels and its headers (the provider's signature among them). */
export interface WebhookRequest {
  body: string;
  headers: Record<string, string>;
}

/** What a webhook receiver answered. */
export interface WebhookAnswer {
  status: number;
  body: string;
}

export interface CallbackStep {
  /** The step's change to the resource (its status). Applied in the true order whatever the chaos. */
  apply?: () => void;
  /**
   * The webhook about the step, built right after it applied, so that its timestamps are the step's own. Omitted: a
   * silent step (a call status the client did not ask to hear about).
   */
  request?: (url: string) => WebhookRequest;
}

/** Webhook chaos: the probability (0..1) that one post is sent twice, and that one resource's posts arrive reversed. */
export interface CallbackChaos {
  duplicateRate: number;
  reorderRate: number;
}

/**
 * Counts since start (or the last reset): `posted` every webhook post sent, copies included; `duplicated` the posts
 * that chaos sent twice; `reordered` the resources whose posts chaos reversed; `failed` the posts that got no 2xx
 * (connection error, timeout or an error status).
 */
export interface CallbackStats {
  posted: number;
  duplicated: number;
  reordered: number;
  failed: number;
}

const CALLBACK_TIMEOUT_MS = 5_000;

/** Checks a webhook URL when it is configured, so that a typo fails there and not, silently, at every post. */
export function validateWebhookUrl(url: string, what: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol !== "http:" && parsed?.protocol !== "https:") {
    throw new Error(`${what} must be an absolute http(s) URL, got ${JSON.stringify(url)}`);
  }
  return url;
}

const NO_CHAOS: CallbackChaos = { duplicateRate: 0, reorderRate: 0 };

/**
 * Posts provider webhooks: Twilio status callbacks, SendGrid events, and (through `send`) Twilio's incoming-message
 * webhook. A status callback or event that cannot be delivered is logged and dropped (Twilio does not retry status
 * callbacks; the simulator does not play SendGrid's retries either); it never affects the simulator.
 */
export class StatusCallbacks {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<http.ClientRequest>();
  // Own agents, so that close() leaves no pooled socket behind.
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });
  private chaos: CallbackChaos = NO_CHAOS;
  private counts: CallbackStats = { posted: 0, duplicated: 0, reordered: 0, failed: 0 };
  private closed = false;

  constructor(
    private readonly options: { delayMs: () => number; log: SimLogger },
  ) {}

  /**
   * Walks a resource through its status steps, `delayMs` apart, the first one `delayMs` from now: each step first
   * applies its status change to the resource, then (when the request carried a callback URL) posts its webhook.
   * Without a callback URL the steps apply at once: nothing is waiting to hear about them.
   *
   * When chaos reverses a resource's posts, the steps still apply on time but their webhooks are held until the last
   * one, then posted last first, `delayMs` apart: the receiver hears "delivered" before "sent", each stamped with the
   * time it really happened, as when a provider's webhooks overtake one another.
   */
  schedule(url: string | undefined, steps: CallbackStep[], what = "status callback"): void {
    if (url === undefined) {
      for (const step of steps) step.apply?.();
      return;
    }
    if (this.closed || steps.length === 0) return;
    const reversed = steps.filter((step) => step.request).length > 1 && Math.random() < this.chaos.reorderRate;
    if (reversed) this.counts.reordered += 1;
    const held: WebhookRequest[] = [];
    const walk = (index: number): void => {
      this.later(() => {
        const step = steps[index]!;
        step.apply?.();
        const request = step.request?.(url);
        if (request && reversed) held.unshift(request);
        else if (request) this.deliver(url, request, what);
        if (index + 1 < steps.length) walk(index + 1);
        else if (reversed) this.deliverInTurn(url, held, what);
      });
    };
    walk(0);
  }

  /** Replaces the chaos (an omitted rate is 0) and returns it; a rate outside 0..1 throws. */
  setChaos(chaos: Partial<CallbackChaos>): CallbackChaos {
    const unknown = Object.keys(chaos).filter((name) => !(name in NO_CHAOS));
    if (unknown.length > 0) throw new Error(`callback chaos has duplicateRate and reorderRate only, not ${unknown.join(", ")}`);
    const next = { duplicateRate: chaos.duplicateRate ?? 0, reorderRate: chaos.reorderRate ?? 0 };
    for (const [name, rate] of Object.entries(next)) {
      if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) {
        throw new Error(`${name} must be a probability from 0 to 1, got ${JSON.stringify(rate)}`);
      }
    }
    this.chaos = next;
    return { ...this.chaos };
  }

  stats(): CallbackStats {
    return { ...this.counts };
  }

  /** No chaos, counters at zero (used by reset). */
  resetChaos(): void {
    this.chaos = NO_CHAOS;
    this.counts = { posted: 0, duplicated: 0, reordered: 0, failed: 0 };
  }

  /**
   * Posts one webhook now and resolves with the receiver's answer; rejects when there is none (connection error,
   * timeout, the simulator closing). Neither chaos nor the counters apply: the caller hears the outcome itself.
   */
  send(url: string, webhook: WebhookRequest): Promise<WebhookAnswer> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error("the simulator is closed"));
        return;
      }
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        reject(new Error(`not a URL: ${JSON.stringify(url)}`));
        return;
      }
      const secure = target.protocol === "https:";
      const request = (secure ? https : http).request(target, {
        method: "POST",
        agent: secure ? this.httpsAgent : this.httpAgent,
        timeout: CALLBACK_TIMEOUT_MS,
        headers: { ...webhook.headers, "Content-Length": Buffer.byteLength(webhook.body) },
      });
      this.inFlight.add(request);
      let settled = false;
      const settle = (outcome: () => void): void => {
        this.inFlight.delete(request);
        if (settled) return;
        settled = true;
        outcome();
      };
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => settle(() => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf-8") })));
        response.on("error", (err) => settle(() => reject(err)));
        response.on("close", () => settle(() => reject(new Error("the answer was cut off"))));
      });
      request.on("timeout", () => request.destroy(new Error(`no answer within ${CALLBACK_TIMEOUT_MS} ms`)));
      request.on("error", (err) => settle(() => reject(err)));
      request.end(webhook.body);
    });
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

  private later(run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, this.options.delayMs());
    this.timers.add(timer);
  }

  private deliverInTurn(url: string, requests: WebhookRequest[], what: string): void {
    const [first, ...rest] = requests;
    if (!first) return;
    this.deliver(url, first, what);
    if (rest.length > 0) this.later(() => this.deliverInTurn(url, rest, what));
  }

  /**
   * Fire and forget. A duplicate goes out at the same moment as the original, on its own connection: the receiver
   * sees two identical posts racing, the hardest case for its idempotency (a retry that arrives later is the easy one).
   */
  private deliver(url: string, webhook: WebhookRequest, what: string): void {
    try {
      new URL(url);
    } catch {
      this.options.log({ msg: `${what} skipped: invalid URL`, url });
      return;
    }
    const copies = Math.random() < this.chaos.duplicateRate ? 2 : 1;
    if (copies === 2) this.counts.duplicated += 1;
    for (let copy = 0; copy < copies; copy += 1) {
      this.counts.posted += 1;
      this.send(url, webhook).then(
        (answer) => {
          if (answer.status >= 200 && answer.status < 300) return;
          this.counts.failed += 1;
          this.options.log({ msg: `${what} answered with an error`, url, status: answer.status });
        },
        (err: Error) => {
          if (this.closed) return;
          this.counts.failed += 1;
          this.options.log({ msg: `${what} failed`, url, err: err.message });
        },
      );
    }
  }
}
