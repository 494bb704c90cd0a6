import { expect } from 'chai'
import { Duplex, PassThrough } from 'node:stream'
import { SmtpProtocol } from '../lib/protocol.js'

/** Two connected in-memory Duplex ends; `toClient` buffers at most `highWaterMark` octets. */
function duplexPair(highWaterMark = 16 * 1024): { server: Duplex; client: Duplex; toClient: PassThrough } {
  const toServer = new PassThrough()
  const toClient = new PassThrough({ highWaterMark })
  return {
    server: Duplex.from({ readable: toServer, writable: toClient }),
    client: Duplex.from({ readable: toClient, writable: toServer }),
    toClient,
  }
}

/** Reads what is buffered on a readable, without waiting. */
function drainText(stream: Duplex): string {
  let text = ''
  for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null) text += chunk.toString()
  return text
}

/** Tears the client end down; Duplex.from reports that as an AbortError, which is expected here. */
function hangUp(client: Duplex): void {
  client.on('error', () => undefined)
  client.destroy()
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('SmtpProtocol#attach', () => {
  it('runs a session over an in-memory stream pair and ends the stream after QUIT', async () => {
    const { server, client } = duplexPair()
    const smtp = new SmtpProtocol({ domain: 'mx.test' }).attach(server)
    let text = ''
    client.on('data', (chunk: Buffer) => (text += chunk.toString()))
    const ended = new Promise<void>((resolve) => client.on('end', () => resolve()))
    client.write('HELO c.test\r\nNOOP\r\n')
    client.end('QUIT\r\n')
    await ended
    expect(text).to.equal('220 mx.test ESMTP smtpwire\r\n250 mx.test greets c.test\r\n250 OK\r\n221 mx.test Service closing transmission channel\r\n')
    expect(smtp.closed).to.equal(true)
  })

  it('accepts string and Uint8Array chunks from the stream', async () => {
    const { server, client } = duplexPair()
    const smtp = new SmtpProtocol({ domain: 'mx.test' }).attach(server)
    const seen: string[] = []
    smtp.on('ehlo', ({ domain }) => void seen.push(domain))
    server.emit('data', 'HELO a.test\r\n')
    server.emit('data', new Uint8Array(Buffer.from('HELO b.test\r\n')))
    await nextTurn()
    expect(seen).to.deep.equal(['a.test', 'b.test'])
    hangUp(client)
  })

  it('stops reading commands while the client does not read its replies', async () => {
    const { server, client, toClient } = duplexPair(64)
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    let answered = 0
    smtp.on('ehlo', () => void answered++)
    smtp.attach(server)
    // 500 EHLOs, each answered with about 200 octets (100 KB in all), against a 64-octet buffer the
    // client does not read: replies go out in 16 KiB batches, and reading stops at the first full one
    client.write('EHLO c.test\r\n'.repeat(500))
    await nextTurn()
    expect(answered).to.be.lessThan(200)
    expect(toClient.readableLength).to.be.lessThan(32 * 1024)
    const before = answered
    // the client reads: the protocol goes on where it stopped
    let replies = ''
    while (answered < 500) {
      replies += drainText(client)
      await nextTurn()
    }
    replies += drainText(client)
    expect(before).to.be.greaterThan(0)
    expect(replies.match(/^250 BINARYMIME\r$/gm)?.length).to.equal(500)
    hangUp(client)
  })

  it('refuses a second attach and leaves that stream out of the session', async () => {
    const first = duplexPair()
    const second = duplexPair()
    const smtp = new SmtpProtocol({ domain: 'mx.test' }).attach(first.server)
    expect(() => smtp.attach(second.server)).to.throw('the protocol was already opened').with.property('code', 'SMTPWIRE_ERR_ALREADY_STARTED')
    second.client.write('NOOP\r\n')
    first.client.write('HELO c.test\r\n')
    await nextTurn()
    expect(drainText(first.client)).to.equal('220 mx.test ESMTP smtpwire\r\n250 mx.test greets c.test\r\n')
    expect(drainText(second.client)).to.equal('')
    hangUp(first.client)
    second.server.on('error', () => undefined) // nothing of ours listens there: that is the point
    hangUp(second.client)
  })

  it('reports the end of a stream that closes without QUIT', async () => {
    const { server, client } = duplexPair()
    const smtp = new SmtpProtocol({ domain: 'mx.test' }).attach(server)
    const closed = new Promise<string>((resolve) => smtp.on('close', ({ reason }) => resolve(reason)))
    client.end()
    expect(await closed).to.equal('peer')
  })
})
