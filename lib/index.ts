// smtpwire's public entry point: the only module users import. Re-exports only.

export { SmtpProtocol } from './protocol.js'
export { SmtpServer, type ListenAddress, type ListenOptions, type SessionHandler, type SmtpServerEvents, type SmtpServerOptions } from './server.js'
export { ProcessingGate, type Release } from './gate.js'
export type { TlsOptions } from './tls.js'
export type { Logger } from './logger.js'
export type { ReverseLookup } from './reverse-dns.js'
export type { ProxyHeader, ProxyAddress } from './proxy-header.js'
export type { StreamUpgrade } from './attach.js'
export {
  CHANNELS,
  type AuthDiagnostic,
  type AuthResult,
  type ChannelName,
  type CommandDiagnostic,
  type ConnectionCloseDiagnostic,
  type ConnectionOpenDiagnostic,
  type DecisionDiagnostic,
  type DiagnosticPayloads,
  type MessageDiagnostic,
  type MessageResult,
  type ReplyDiagnostic,
  type TlsHandshakeDiagnostic,
} from './diagnostics.js'
export { createSelfSignedCertificate, type SelfSignedCertificate, type SelfSignedOptions } from './certificate.js'
export {
  messageStream,
  type MessageStreamContext,
  type MessageStreamHandler,
  type MessageStreamOptions,
} from './message-stream.js'
export { RECORDED_EVENTS, ReplySplitter, SmtpDriver, type DriverOptions } from './driver.js'
export { SmtpError, SmtpReply, SmtpwireError, type SmtpwireErrorCode } from './errors.js'
export { REPLIES, formatReply, type EnhancedCode, type Reply, type ReplyKey } from './replies.js'
export {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_QUEUED_REPLY_OCTETS,
  type Policy,
  type ResolvedOptions,
  type SaslMechanismName,
  type SmtpOptions,
} from './options.js'
export type { SaslCredentials } from './sasl/types.js'
export type { LineEndingPolicy } from './dot-decoder.js'
export type { SmtpTransport } from './transport.js'
export { formatReceivedHeader } from './received.js'
export type { Mailbox } from './address.js'
export type { BodyType, DsnNotify, MailParams, OriginalRecipient, RcptParams } from './params.js'
export type { RawParams } from './parser.js'
export type { RecipientInfo, SessionCounters, SessionFacts, SessionInfo, TlsInfo, TransactionInfo } from './session-info.js'
export type {
  CloseEvent,
  CloseReason,
  AuthEvent,
  AuthFailureEvent,
  ConnectEvent,
  DataChunkEvent,
  DataEvent,
  DecisionEvents,
  EhloEvent,
  ErrorEvent,
  HeadersEvent,
  Listener,
  ListenerResult,
  MessageEvent,
  MessageVerdict,
  NoticeEvents,
  PlainAuthEvent,
  QueryEvent,
  RecipientEvent,
  ResetEvent,
  SecureEvent,
  SenderEvent,
  SmtpEvents,
  TlsErrorEvent,
  TransactionEndReason,
  TransactionEvent,
  Verdict,
  WithSession,
  WithTransaction,
} from './events.js'
