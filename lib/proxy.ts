// Reads the PROXY protocol header (HAProxy v1/v2) off a fresh connection before anything else,
// with a deadline, and hands back the bytes that followed it. Socket glue; parsing is pure.

import type { Duplex } from 'node:stream'
import { SmtpwireError } from './errors.js'
import { parseProxyHeader, type ProxyHeader } from './proxy-header.js'

// A v2 header is 16 octets plus a 16-bit length: nothing legitimate is longer.
const MAX_HEADER = 16 + 65535

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
    const chunks: Buffer[] = []
    let length = 0
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
      const input = chunks.length === 1 ? chunk : Buffer.concat(chunks, length)
      const parsed = parseProxyHeader(input)
      if (parsed.status === 'done') return finish(null, { header: parsed.header, rest: input.subarray(parsed.length) })
      if (parsed.status === 'invalid') return fail(`invalid PROXY header: ${parsed.reason}`)
      if (length > MAX_HEADER) fail('PROXY header too long')
    }
    const onEnd = (): void => fail('connection ended before the PROXY header')
    const timer = setTimeout(() => fail('no PROXY header in time'), timeoutMs)
    timer.unref?.()
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('error', onEnd)
  })
}
