// The RFC 5321 §4.4 Received trace header for a transaction, with the RFC 3848 "with" keyword.
// Pure: session and transaction facts in, header text out.

import type { SessionInfo, TransactionInfo } from './session-info.js'

/** The RFC 3848 protocol keyword: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, LMTP, LMTPS, LMTPA, LMTPSA. */
export function withKeyword(session: SessionInfo): string {
  const base = session.heloVerb === 'LHLO' ? 'LMTP' : session.heloVerb === 'EHLO' ? 'ESMTP' : 'SMTP'
  if (base === 'SMTP') return base
  return `${base}${session.tls ? 'S' : ''}${session.user ? 'A' : ''}`
}

/** An address as an RFC 5321 address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]`. */
export function addressLiteral(address: string): string {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (v4mapped) return `[${v4mapped[1]}]`
  return address.includes(':') ? `[IPv6:${address}]` : `[${address}]`
}

/** An RFC 5322 date-time in UTC: `Tue, 24 Nov 2026 15:29:00 +0000`. */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000')
}

// Header values come from the client (HELO name); keep them on one line and printable.
function clean(text: string): string {
  return text.replace(/[^\x21-\x7E\u0080-\u{10FFFF}]/gu, '?')
}

/**
 * The `Received:` header (with its CRLF) for a transaction: who sent it (HELO name, reverse-DNS
 * name, address), who received it, how, its id, the recipient when there is exactly one, and when.
 */
export function formatReceivedHeader(session: SessionInfo, transaction: TransactionInfo, domain: string, at = new Date()): string {
  // A trusted proxy's XFORWARD facts describe the real client better than the connection does.
  const forwarded = transaction.forwarded ?? {}
  const helo = clean(forwarded['HELO'] ?? session.heloName ?? 'unknown')
  const name = forwarded['NAME'] ?? session.clientHostname
  const host = name ? clean(name) : 'unknown'
  const remote = forwarded['ADDR'] ?? session.remoteAddress
  const address = remote ? addressLiteral(remote) : '[unknown]'
  const only = transaction.to.length === 1 ? transaction.to[0] : undefined
  // RFC 5321 §7.2: name the recipient only when there is one, so others are not disclosed.
  const recipient = only ? `\r\n\tfor <${only.address.address}>` : ''
  return (
    `Received: from ${helo} (${host} ${address})\r\n` +
    `\tby ${domain} (smtpwire) with ${withKeyword(session)} id ${transaction.id}${recipient};\r\n` +
    `\t${rfc5322Date(at)}\r\n`
  )
}
