// XCLIENT and XFORWARD (Postfix's extensions, https://www.postfix.org/XCLIENT_README.html and
// XFORWARD_README.html): a trusted proxy in front of this server passes on the real client's facts.

import { decodeXtext, isIPv4, isIPv6 } from '../address.js'
import { isTrustedProxy, XCLIENT_ATTRIBUTES, XFORWARD_ATTRIBUTES } from '../capabilities.js'
import type { Host } from '../host.js'
import type { Command } from '../parser.js'
import { REPLIES } from '../replies.js'
import { greet } from './session.js'

type Proxied = Extract<Command, { verb: 'XCLIENT' | 'XFORWARD' }>

// Postfix: these values mean the proxy does not know the attribute.
const UNKNOWN = new Set(['[UNAVAILABLE]', '[TEMPUNAVAIL]'])

/** Decoded attributes, or null when one is unknown to the command or badly encoded. */
function attributes(command: Proxied, allowed: readonly string[]): Map<string, string | null> | null {
  const values = new Map<string, string | null>()
  for (const [key, raw] of command.attributes) {
    if (!allowed.includes(key) || raw === null) return null
    if (UNKNOWN.has(raw.toUpperCase())) {
      values.set(key, null)
      continue
    }
    const value = decodeXtext(raw)
    if (value === null) return null
    values.set(key, value)
  }
  return values
}

/** An address as XCLIENT/XFORWARD sends it (`192.0.2.1`, `IPV6:2001:db8::1`), or null when invalid. */
function address(value: string): string | null {
  const plain = value.replace(/^IPV6:/i, '')
  return isIPv4(plain) || isIPv6(plain) ? plain : null
}

function port(value: string): number | null {
  return /^\d{1,5}$/.test(value) && Number(value) <= 65535 ? Number(value) : null
}

/** An attribute's value parsed: undefined when not sent, `unknown` for an unknown value, null when invalid. */
function given<T>(value: string | null | undefined, parse: (text: string) => T | null, unknown: T): T | null | undefined {
  if (value === undefined) return undefined
  return value ? parse(value) : unknown
}

/** XCLIENT: replace the session's client facts, then greet again as a new session would. */
export function xclient(host: Host, command: Proxied): void {
  if (!isTrustedProxy(host.options, host.session.info)) return host.sendError(REPLIES.proxyNotTrusted)
  if (host.session.transaction) return host.sendError(REPLIES.proxyInTransaction)
  const values = attributes(command, XCLIENT_ATTRIBUTES)
  if (!values) return host.sendError(REPLIES.syntaxError)
  const remoteAddress = given(values.get('ADDR'), address, '')
  const remotePort = given(values.get('PORT'), port, 0)
  const localAddress = given(values.get('DESTADDR'), address, '')
  const localPort = given(values.get('DESTPORT'), port, 0)
  if (remoteAddress === null || remotePort === null || localAddress === null || localPort === null) return host.sendError(REPLIES.syntaxError)
  // The proxy must EHLO again, as the client would; HELO= only names the client until then.
  host.session.proxied({
    remoteAddress,
    remotePort,
    localAddress,
    localPort,
    clientHostname: values.has('NAME') ? (values.get('NAME') ?? null) : undefined,
    user: values.has('LOGIN') ? (values.get('LOGIN') ?? null) : undefined,
    heloName: values.get('HELO') ?? undefined,
  })
  const session = host.session.info
  host.log.info(`XCLIENT: now ${session.remoteAddress || 'unknown'}:${session.remotePort}${session.user ? ` as ${session.user}` : ''}`)
  greet(host)
}

/** XFORWARD: remember the original client's facts for the next transaction. */
export function xforward(host: Host, command: Proxied): void {
  if (!isTrustedProxy(host.options, host.session.info)) return host.sendError(REPLIES.proxyNotTrusted)
  if (host.session.transaction) return host.sendError(REPLIES.proxyInTransaction)
  const values = attributes(command, XFORWARD_ATTRIBUTES)
  if (!values) return host.sendError(REPLIES.syntaxError)
  const addr = values.get('ADDR')
  const remotePort = values.get('PORT')
  if ((addr && !address(addr)) || (remotePort && port(remotePort) === null)) return host.sendError(REPLIES.syntaxError)
  const forwarded: Record<string, string> = { ...host.session.info.forwarded }
  for (const [key, value] of values) {
    if (value === null) delete forwarded[key]
    else forwarded[key] = key === 'ADDR' ? (address(value) ?? value) : value
  }
  host.session.forwardedFor(Object.freeze(forwarded))
  host.send(REPLIES.ok)
}
