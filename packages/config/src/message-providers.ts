/** The env fields (see providerEnv) that configure the sending channels. */
export interface MessageProviderEnv {
  TWILIO_ACCOUNT_SID: string;
  TWILIO_AUTH_TOKEN: string;
  TWILIO_FROM_NUMBER: string;
  TWILIO_BASE_URL?: string | undefined;
  TWILIO_STATUS_CALLBACK_URL?: string | undefined;
  SENDGRID_API_KEY: string;
  SENDGRID_FROM_EMAIL: string;
  SENDGRID_BASE_URL?: string | undefined;
  PROVIDER_TIMEOUT_MS: number;
}

/**
 * The send guard's channel configuration from a parsed env, shared by every app that holds a guard (the worker, the
 * reconciler), so that they send with the same settings.
 */
export function messageProvidersFromEnv(env: MessageProviderEnv, options: { emailActivity?: boolean } = {}) {
  return {
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      from: env.TWILIO_FROM_NUMBER,
      baseUrl: env.TWILIO_BASE_URL,
      statusCallbackUrl: env.TWILIO_STATUS_CALLBACK_URL,
      timeoutMs: env.PROVIDER_TIMEOUT_MS,
    },
    sendgrid: {
      apiKey: env.SENDGRID_API_KEY,
      from: env.SENDGRID_FROM_EMAIL,
      baseUrl: env.SENDGRID_BASE_URL,
      timeoutMs: env.PROVIDER_TIMEOUT_MS,
      ...(options.emailActivity !== undefined && { emailActivity: options.emailActivity }),
    },
  };
}
