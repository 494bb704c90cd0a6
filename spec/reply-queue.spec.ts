// The reply queue: replies leave in command order, one write per batch; a batch of pipelined
// replies goes out with writev uncopied, or joined for a transport without writev.

import { expect } from 'chai'
import { ReplyQueue } from '../lib/reply-queue.js'
import type { SmtpTransport } from '../lib/transport.js'

/** A transport that records each call and its chunks. */
function recorder(accept = true): SmtpTransport & { calls: Array<{ via: 'write' | 'writev'; chunks: Buffer[] }> } {
  const calls: Array<{ via: 'write' | 'writev'; chunks: Buffer[] }> = []
  return {
    calls,
    write(chunk: Buffer): boolean {
      calls.push({ via: 'write', chunks: [chunk] })
      return accept
    },
    writev(chunks: readonly Buffer[]): boolean {
      calls.push({ via: 'writev', chunks: [...chunks] })
      return accept
    },
    end(): void {},
  }
}

const reply = (text: string): Buffer => Buffer.from(`${text}\r\n`)

describe('ReplyQueue', () => {
  it('writes one reply as it is, and nothing when nothing is queued', () => {
    const queue = new ReplyQueue()
    const transport = recorder()
    expect(queue.flush(transport)).to.equal(0)
    const ok = reply('250 2.0.0 OK')
    queue.push(ok)
    expect(queue.flush(transport)).to.equal(ok.length)
    expect(transport.calls).to.have.length(1)
    expect(transport.calls[0]?.via).to.equal('write')
    expect(transport.calls[0]?.chunks[0]).to.equal(ok) // the very buffer, not a copy
  })

  it('writes a batch of pipelined replies with writev, uncopied and in order', () => {
    const queue = new ReplyQueue()
    const transport = recorder()
    const batch = Array.from({ length: 200 }, (_, i) => reply(`250 2.1.5 Recipient ${i} OK`))
    for (const bytes of batch) queue.push(bytes)
    const length = batch.reduce((sum, bytes) => sum + bytes.length, 0)
    expect(queue.flush(transport)).to.equal(length)
    expect(transport.calls.map((call) => call.via)).to.deep.equal(['writev'])
    const written = transport.calls[0]?.chunks ?? []
    expect(written).to.have.length(batch.length)
    written.forEach((chunk, i) => expect(chunk).to.equal(batch[i]))
  })

  it('joins any batch for a transport without writev', () => {
    const queue = new ReplyQueue()
    const calls: Buffer[] = []
    const transport: SmtpTransport = { write: (chunk) => (calls.push(chunk), true), end: () => undefined }
    const batch = Array.from({ length: 200 }, (_, i) => reply(`250 2.1.5 Recipient ${i} OK`))
    for (const bytes of batch) queue.push(bytes)
    queue.flush(transport)
    expect(calls).to.have.length(1)
    expect(calls[0]?.equals(Buffer.concat(batch))).to.equal(true)
  })

  it('negates the octets written when the transport asks to wait, and drops the batch without a transport', () => {
    const queue = new ReplyQueue()
    queue.push(reply('250 a'))
    queue.push(reply('250 b'))
    expect(queue.flush(recorder(false))).to.equal(-14)
    queue.push(reply('250 c'))
    expect(queue.flush(null)).to.equal(0)
    expect(queue.flush(recorder())).to.equal(0) // the dropped batch is gone
  })

  it('says the batch is due at 16 KiB', () => {
    const queue = new ReplyQueue()
    const big = Buffer.alloc(8 * 1024, 0x41)
    expect(queue.push(big)).to.equal(false)
    expect(queue.push(big)).to.equal(true)
  })
})
