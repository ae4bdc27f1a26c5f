import http from "node:http";
import { CONTROL_PREFIX, handleControl } from "./control-routes";
import { FaultInjector, type Fault, type FaultStatus } from "./fault-injector";
import { jsonReply, readBody, type ProviderRoute, type Reply, type SimRequest } from "./http-io";
import { hubSpotFaultReply } from "./hubspot-replies";
import { HubSpotRoutes } from "./hubspot-routes";
import { SIMULATOR_TWILIO_ACCOUNT_SID, SIMULATOR_TWILIO_AUTH_TOKEN, SIMULATOR_TWILIO_FROM_NUMBER } from "./provider-env";
import { RequestRecord, type SimProvider } from "./request-record";
import { SendGridEvents } from "./sendgrid-events";
import { SendGridRoutes, sendGridFaultReply } from "./sendgrid-routes";
import type { Simulator, SimulatorOptions } from "./simulator";
import { StatusCallbacks, validateWebhookUrl, type SimLogger, type WebhookAnswer } from "./status-callbacks";
import { inboundParams, optOutType, type InboundSms } from "./twilio-inbound";
import { E164, TwilioRoutes, twilioFaultReply } from "./twilio-routes";
import { twilioWebhook } from "./twilio-signature";

const faultReplies: Record<SimProvider, (status: 429 | FaultStatus, retryAfterSeconds: number) => Reply> = {
  "twilio-sms": twilioFaultReply,
  "twilio-voice": twilioFaultReply,
  sendgrid: sendGridFaultReply,
  hubspot: hubSpotFaultReply,
};

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = new SimulatorServer(options);
  await simulator.listen(options.port ?? 0);
  return simulator;
}

class SimulatorServer implements Simulator {
  private readonly server: http.Server;
  private readonly host: string;
  private readonly log: SimLogger;
  private readonly authToken: string;
  private readonly requests = new RequestRecord();
  private readonly faults = new FaultInjector();
  private readonly unsubscribed = new Set<string>();
  private readonly undeliverable = new Set<string>();
  private readonly callbacks: StatusCallbacks;
  private readonly sendGridEvents: SendGridEvents;
  private readonly twilio: TwilioRoutes;
  private readonly sendGrid: SendGridRoutes;
  private readonly hubSpot: HubSpotRoutes;
  private readonly timers = new Set<NodeJS.Timeout>();
  private latencyMs: number;
  private readonly initialLatencyMs: number;
  private listLagMs: number;
  private readonly initialListLagMs: number;
  private inboundUrl: string | null;
  private readonly initialInboundUrl: string | null;
  private boundPort = 0;
  private refusing = false;
  private relistenTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: SimulatorOptions) {
    this.host = options.host ?? "127.0.0.1";
    this.log = options.log ?? (() => {});
    this.authToken = options.twilioAuthToken ?? SIMULATOR_TWILIO_AUTH_TOKEN;
    this.latencyMs = this.initialLatencyMs = options.latencyMs ?? 0;
    this.listLagMs = this.initialListLagMs = validateMs(options.listLagMs ?? 0, "listLagMs");
    this.inboundUrl = this.initialInboundUrl =
      options.twilioInboundUrl === undefined ? null : validateWebhookUrl(options.twilioInboundUrl, "twilioInboundUrl");
    this.callbacks = new StatusCallbacks({ delayMs: () => this.options.callbackDelayMs ?? 50, log: this.log });
    this.twilio = new TwilioRoutes({
      records: this.requests,
      callbacks: this.callbacks,
      unsubscribed: this.unsubscribed,
      undeliverable: this.undeliverable,
      listLagMs: () => this.listLagMs,
      authToken: () => this.authToken,
    });
    this.sendGridEvents = new SendGridEvents({
      callbacks: this.callbacks,
      ...(options.sendgridEventSigningKey !== undefined && { signingKey: options.sendgridEventSigningKey }),
      ...(options.sendgridEventWebhookUrl !== undefined && { url: options.sendgridEventWebhookUrl }),
    });
    this.sendGrid = new SendGridRoutes({ records: this.requests, events: this.sendGridEvents, listLagMs: () => this.listLagMs });
    this.hubSpot = new HubSpotRoutes({ records: this.requests, ...(options.hubspot && { settings: options.hubspot }) });
    this.server = http.createServer((req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.log({ msg: "simulator handler failed", err: (err as Error).message });
        if (!res.headersSent && !res.destroyed) this.write(res, jsonReply(500, { error: "simulator bug: " + (err as Error).message }));
      });
    });
    // A hung request must stay open until the client gives up: no server-side request timeout.
    this.server.requestTimeout = 0;
    // Idle keep-alive sockets live longer here than in the clients' agents (as behind a real API's load balancer), so
    // that a client never writes a request into a socket the server is closing: that race would surface as a reset,
    // an ambiguous outcome, for a request that never arrived.
    this.server.keepAliveTimeout = 65_000;
    this.server.on("error", (err) => this.log({ msg: "simulator server error", err: err.message }));
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://${this.host}:${this.boundPort}`;
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      this.server.listen(port, this.host, () => {
        this.server.off("error", onError);
        this.boundPort = (this.server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  records: Simulator["records"] = (filter) => this.requests.list(filter);

  clearRecords(): void {
    this.requests.clear();
  }

  injectFault(fault: Fault | Fault[]): void {
    for (const one of Array.isArray(fault) ? fault : [fault]) this.faults.inject(one);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  unsubscribe(phone: string): void {
    this.unsubscribed.add(phone);
  }

  resubscribe(phone: string): void {
    this.unsubscribed.delete(phone);
  }

  failDelivery(phone: string): void {
    this.undeliverable.add(phone);
  }

  setListLag(ms: number): void {
    this.listLagMs = validateMs(ms, "the list lag");
  }

  configureTwilioInbound: Simulator["configureTwilioInbound"] = (settings = {}) => {
    if (settings.url !== undefined) this.inboundUrl = settings.url === null ? null : validateWebhookUrl(settings.url, "the Twilio inbound URL");
    return { url: this.inboundUrl };
  };

  async receiveSms(sms: InboundSms): Promise<WebhookAnswer> {
    const url = this.inboundUrl;
    const to = sms.to ?? SIMULATOR_TWILIO_FROM_NUMBER;
    if (url === null) throw new Error("no inbound URL: start the simulator with twilioInboundUrl or call configureTwilioInbound({ url })");
    if (typeof sms.from !== "string" || !E164.test(sms.from)) throw new Error(`receiveSms: from must be an E.164 number, got ${JSON.stringify(sms.from)}`);
    if (!E164.test(to)) throw new Error(`receiveSms: to must be an E.164 number, got ${JSON.stringify(to)}`);
    if (typeof sms.body !== "string") throw new Error("receiveSms: body must be a string");
    // Twilio handles the keyword itself, before and whatever the webhook answers. Real opt-outs hold per pair of
    // sender and account number; the simulator's are per sender, which is the same while the apps send from one number.
    const keyword = optOutType(sms.body);
    if (keyword === "STOP") this.unsubscribe(sms.from);
    if (keyword === "START") this.resubscribe(sms.from);
    const inbound = { accountSid: SIMULATOR_TWILIO_ACCOUNT_SID, from: sms.from, to, body: sms.body };
    const sid = this.twilio.receive(inbound);
    return this.callbacks.send(url, twilioWebhook(this.authToken, url, inboundParams({ ...inbound, sid })));
  }

  get sendgridEventPublicKey(): string {
    return this.sendGridEvents.publicKey;
  }

  configureSendGridEvents: Simulator["configureSendGridEvents"] = (settings) => this.sendGridEvents.configure(settings);

  bounceEmail(email: string): void {
    this.sendGridEvents.bounce(email);
  }

  setCallbackChaos: Simulator["setCallbackChaos"] = (chaos) => this.callbacks.setChaos(chaos);

  callbackStats: Simulator["callbackStats"] = () => this.callbacks.stats();

  configureHubSpot: Simulator["configureHubSpot"] = (settings = {}) => this.hubSpot.configure(settings);

  hubSpotUsage: Simulator["hubSpotUsage"] = () => this.hubSpot.usage();

  seedCrmContact: Simulator["seedCrmContact"] = (properties, id) => this.hubSpot.seedContact(properties, id);

  setCrmContactProperty: Simulator["setCrmContactProperty"] = (idOrEmail, name, value) => this.hubSpot.setContactProperty(idOrEmail, name, value);

  deleteCrmContact: Simulator["deleteCrmContact"] = (id) => this.hubSpot.deleteContact(id);

  mergeCrmContacts: Simulator["mergeCrmContacts"] = (primaryId, mergedId) => this.hubSpot.mergeContacts(primaryId, mergedId);

  markContactMissing(id: string): void {
    this.hubSpot.deleteContact(id);
  }

  crmContact: Simulator["crmContact"] = (id) => this.hubSpot.contact(id);

  crmContacts: Simulator["crmContacts"] = () => this.hubSpot.listContacts();

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  async refuseConnections(ms: number): Promise<void> {
    if (this.closing) return;
    clearTimeout(this.relistenTimer);
    if (!this.refusing) {
      this.refusing = true;
      this.server.close(() => {});
      // Pooled keep-alive sockets would still reach us; drop them so that the next request opens a connection and is
      // refused. Sockets busy with a request finish it with `Connection: close`.
      this.server.closeIdleConnections();
      await this.sleep(10);
    }
    this.relistenTimer = setTimeout(() => {
      this.relistenTimer = undefined;
      this.server.listen(this.boundPort, this.host, () => {
        this.refusing = false;
      });
    }, ms);
  }

  reset(): void {
    this.requests.clear();
    this.faults.clear();
    this.unsubscribed.clear();
    this.undeliverable.clear();
    this.twilio.reset();
    this.hubSpot.reset();
    this.sendGridEvents.reset();
    this.callbacks.cancelPending();
    this.callbacks.resetChaos();
    this.latencyMs = this.initialLatencyMs;
    this.listLagMs = this.initialListLagMs;
    this.inboundUrl = this.initialInboundUrl;
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearTimeout(this.relistenTimer);
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      this.callbacks.close();
      if (this.server.listening) this.server.close(() => resolve());
      else resolve();
      // Hung requests included: nothing may outlive close().
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://simulator");
    const request: SimRequest = {
      method: req.method ?? "GET",
      pathname: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: await readBody(req),
    };
    if (request.pathname.startsWith(CONTROL_PREFIX)) {
      const { afterReply, ...reply } = await handleControl(this, request);
      this.write(res, reply);
      if (afterReply) res.once("finish", afterReply);
      return;
    }
    const route = this.twilio.route(request.method, request.pathname)
      ?? this.sendGrid.route(request.method, request.pathname)
      ?? this.hubSpot.route(request.method, request.pathname);
    if (!route) {
      await this.answer(res, jsonReply(404, { error: `the simulator has no route for ${request.method} ${request.pathname}` }));
      return;
    }
    await this.serve(route, request, req, res);
  }

  private async serve(route: ProviderRoute, request: SimRequest, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const fault = this.faults.take(route.provider);
    switch (fault?.kind) {
      case undefined:
        await this.answer(res, route.handle(request));
        return;
      case "500":
      case "429": {
        const retryAfter = fault.retryAfterSeconds ?? this.options.retryAfterSeconds ?? 1;
        await this.answer(res, faultReplies[route.provider](fault.kind === "500" ? (fault.status ?? 500) : 429, retryAfter));
        return;
      }
      case "hang":
        // Accepted (recorded, callbacks scheduled) and never answered: the socket stays open until the client gives
        // up or close() destroys it.
        route.handle(request);
        return;
      case "reset":
        await this.delay();
        req.socket.destroy();
        return;
      case "accept-then-reset":
        route.handle(request);
        await this.delay();
        req.socket.destroy();
        return;
      case "accept-then-500":
        // Whatever the handler answered is lost: the client hears only the 5xx, as when a gateway fails after the
        // provider committed (HubSpot's write included).
        route.handle(request);
        await this.answer(res, faultReplies[route.provider](fault.status ?? 500, 0));
        return;
    }
  }

  private async answer(res: http.ServerResponse, reply: Reply): Promise<void> {
    await this.delay();
    this.write(res, reply);
  }

  private write(res: http.ServerResponse, reply: Reply): void {
    if (res.destroyed) return;
    const headers: Record<string, string> = { ...reply.headers };
    if (this.refusing) headers.Connection = "close";
    res.writeHead(reply.status, headers);
    res.end(reply.body);
  }

  private delay(): Promise<void> {
    return this.latencyMs > 0 ? this.sleep(this.latencyMs) : Promise.resolve();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

function validateMs(ms: number, what: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) throw new Error(`${what} must be a number of milliseconds >= 0, got ${JSON.stringify(ms)}`);
  return ms;
}
