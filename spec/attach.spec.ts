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

/**
 * The server end of a connection whose client reads nothing until `readAll()`: every reply written
 * stays queued in the stream, as on a socket whose peer stopped reading. Without `highWaterMark`
 * the stream has Node's default (16 KiB on Node 20, 64 KiB from Node 22 on).
 */
function stalledClient(highWaterMark?: number): {
  server: Duplex
  send(text: string): void
  readAll(): void
  readonly text: string
} {
  let text = ''
  let reading = false
  let held: (() => void) | null = null
  const server = new Duplex({
    writableHighWaterMark: highWaterMark,
    read() {},
    write(chunk: Buffer, _encoding, done) {
      if (reading) {
        text += chunk.toString()
        done()
      } else {
        // A Writable hands over one chunk at a time: the rest wait in its buffer, counted in writableLength.
        held = () => {
          text += chunk.toString()
          done()
        }
      }
    },
  })
  return {
    server,
    send: (data) => void server.push(data),
    readAll() {
      reading = true
      const release = held
      held = null
      release?.()
    },
    get text() {
      return text
    },
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Lets the in-memory session run (ticks and immediates only, no I/O) until `progress` stops changing. */
async function settle(progress: () => number): Promise<void> {
  let last = -1
  while (progress() !== last) {
    last = progress()
    await nextTurn()
    await nextTurn()
  }
}


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

  // Each EHLO reply is the same 8 lines; the greeting comes first.
  const GREETING = '220 mx.test ESMTP smtpwire\r\n'
  const EHLO_REPLY = [
    '250-mx.test greets c.test',
    '250-PIPELINING',
    '250-SIZE 26214400',
    '250-8BITMIME',
    '250-SMTPUTF8',
    '250-ENHANCEDSTATUSCODES',
    '250-CHUNKING',
    '250 BINARYMIME',
    '',
  ].join('\r\n')
  // The engine writes replies in batches of at least this much, so the queue may pass the bound by one batch.
  const BATCH = 16 * 1024

  const limits: Array<[limit: number | undefined, highWaterMark: number | undefined]> = [
    [undefined, undefined],
    [32 * 1024, undefined],
    [128 * 1024, undefined],
    [32 * 1024, 1],
    [128 * 1024, 1024 * 1024],
  ]
  for (const [limit, highWaterMark] of limits) {
    const bound = limit ?? 64 * 1024
    const named = limit === undefined ? 'the default maxQueuedReplyOctets (64 KiB)' : `maxQueuedReplyOctets ${limit}`
    const stream = highWaterMark === undefined ? "Node's default highWaterMark" : `a highWaterMark of ${highWaterMark}`
    it(`stops reading commands at ${named} of replies a client does not read, on a stream with ${stream}`, async () => {
      const client = stalledClient(highWaterMark)
      const smtp = new SmtpProtocol({ domain: 'mx.test', maxQueuedReplyOctets: limit })
      let answered = 0
      smtp.on('ehlo', () => void answered++)
      smtp.attach(client.server)
      const commands = 2000 // 290 KB of replies: twice the largest bound here
      client.send('EHLO c.test\r\n'.repeat(commands))
      await settle(() => answered)
      // Everything written is still queued in the stream, so the queue is exactly what was answered.
      const queued = client.server.writableLength
      expect(queued).to.equal(GREETING.length + answered * EHLO_REPLY.length)
      expect(queued).to.be.at.least(bound)
      expect(queued).to.be.below(bound + BATCH + EHLO_REPLY.length)
      expect(smtp.bufferedInput).to.equal((commands - answered) * 'EHLO c.test\r\n'.length)
      // the client reads: the session goes on where it stopped and answers every command, in order
      client.readAll()
      await settle(() => answered)
      expect(answered).to.equal(commands)
      expect(client.text).to.equal(GREETING + EHLO_REPLY.repeat(commands))
      client.server.destroy()
    })
  }

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
