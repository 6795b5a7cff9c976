// Types of tls-certificates.js, for the tests (test/harness/tls.ts re-exports them).

/** A certificate and its private key, as files and as PEM text. */
export interface TlsPair {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface TlsCertificates {
  /** The private folder everything is in. */
  dir: string;
  /** The CA that signed the server and client certificates below (but not `otherClient`). */
  ca: TlsPair;
  /** A second CA that nothing trusts: "unknown CA". */
  otherCa: TlsPair;
  /** A server certificate for 127.0.0.1 and localhost (subjectAltName IP:127.0.0.1, DNS:localhost). */
  server: TlsPair;
  /** A server certificate, signed by `ca`, for another host only (DNS:wrong.example). */
  wrongHost: TlsPair;
  /** A server certificate for 127.0.0.1 and localhost, signed by `ca`, that expired in 2020. */
  expired: TlsPair;
  /** A client certificate signed by `ca`, for mutual TLS. */
  client: TlsPair;
  /** A client certificate signed by `otherCa`, which a server trusting `ca` must refuse. */
  otherClient: TlsPair;
  /** Deletes the folder. */
  remove(): void;
}

/** Makes a fresh set of certificates in a new private temporary folder. */
export function createTlsCertificates(): TlsCertificates;
