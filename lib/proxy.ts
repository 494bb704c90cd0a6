// Reads the PROXY protocol header (HAProxy v1/v2) off a fresh connection before anything else,
// with a deadline, and hands back the bytes that followed it. Socket glue; parsing is pure.

import type { Duplex } from 'node:stream'
import { SmtpwireError } from './errors.js'
import { parseProxyHeader, PROXY_V1_MAX_LENGTH, type ProxyHeader } from './proxy-header.js'

/** A v2 header's fixed part: signature, version and command, family, and the 16-bit length of the rest. */
const V2_FIXED = 16
// A v2 header is 16 octets plus a 16-bit length: nothing legitimate is longer.
const MAX_HEADER = V2_FIXED + 65535
const CR = 0x0d
const LF = 0x0a

/** The header, and whatever the client sent after it in the same reads. */
export interface ProxyRead {
  readonly header: ProxyHeader
  readonly rest: Buffer
}

/**
 * Reads a PROXY header from `stream`. Rejects with `SMTPWIRE_ERR_PROXY_HEADER` when the first bytes
 * are not a valid header, when none arrives within `timeoutMs`, or when the stream ends first.
 */
export function readProxyHeader(stream: Duplex, timeoutMs: number): Promise<ProxyRead> {
  return new Promise((resolve, reject) => {
    // Chunks are kept as they come and joined only when a parse can say more than "incomplete"
    // (a header that arrives a byte at a time is joined a few times, not once per byte).
    let chunks: Buffer[] = []
    let length = 0
    // Octets needed before the next parse, and whether a line feed (the end of a v1 header) also calls for one.
    let needed = 0
    let atLineFeed = true
    const finish = (error: Error | null, read?: ProxyRead): void => {
      clearTimeout(timer)
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onEnd)
      stream.pause()
      if (error) reject(error)
      else if (read) resolve(read)
    }
    const fail = (reason: string): void => finish(new SmtpwireError('SMTPWIRE_ERR_PROXY_HEADER', reason))
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      length += chunk.length
      if (length < needed && !(atLineFeed && chunk.includes(LF))) return
      const input = chunks.length === 1 ? chunk : Buffer.concat(chunks, length)
      chunks = [input]
      const parsed = parseProxyHeader(input)
      if (parsed.status === 'done') return finish(null, { header: parsed.header, rest: input.subarray(parsed.length) })
      if (parsed.status === 'invalid') return fail(`invalid PROXY header: ${parsed.reason}`)
      if (length > MAX_HEADER) return fail('PROXY header too long')
      // Still a prefix of a header. v2 (it starts with CR): 16 fixed octets hold the length of the
      // rest. v1: it ends at its line feed, within 107 octets.
      atLineFeed = input[0] !== CR
      needed = atLineFeed ? PROXY_V1_MAX_LENGTH + 1 : input.length < V2_FIXED ? V2_FIXED : V2_FIXED + input.readUInt16BE(14)
    }
    const onEnd = (): void => fail('connection ended before the PROXY header')
    const timer = setTimeout(() => fail('no PROXY header in time'), timeoutMs)
    timer.unref?.()
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('error', onEnd)
  })
}
