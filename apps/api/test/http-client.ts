import http from "node:http";
import type { AddressInfo } from "node:net";
import type { WebhooksApp } from "../src";

export interface Answer {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json(): any;
}

export interface Client {
  request(options: { method?: string; url: string; headers?: Record<string, string>; payload?: string | Buffer }): Promise<Answer>;
  close(): void;
}

/**
 * The app on a real port on 127.0.0.1, called with node:http: real requests, any method, any bytes. (fastify's
 * `inject` needs light-my-request, whose `cookie` dependency is ESM-only and does not load under ts-jest.)
 */
export async function listen(app: WebhooksApp): Promise<Client> {
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  return {
    close: () => agent.destroy(),
    request: ({ method = "POST", url, headers = {}, payload }) =>
      new Promise<Answer>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, method, path: url, headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const body = Buffer.concat(chunks).toString("utf8");
            resolve({ statusCode: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) });
          });
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end(payload);
      }),
  };
}
