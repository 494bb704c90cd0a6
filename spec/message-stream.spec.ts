// messageStream(): the body as a Readable per transaction, with backpressure onto `dataChunk`, an
// error on every way a transaction can end unaccepted, and the 250 only after the consumer finished.

import { expect } from 'chai'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { SmtpError } from '../lib/errors.js'
import type { ErrorEvent } from '../lib/events.js'
import { messageStream, type MessageStreamHandler, type MessageStreamOptions } from '../lib/message-stream.js'
import type { SmtpOptions } from '../lib/options.js'
import { deferred, nextTurn, startAt, type Rung } from './helpers/ladder.js'

/** Lets queued work run for a few turns, for checking that something has NOT happened. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn()
}

async function start(rung: Rung, handler: MessageStreamHandler, options: SmtpOptions = {}, streamOptions?: MessageStreamOptions) {
  const errors: ErrorEvent[] = []
  const started = await startAt(rung, { chunking: true, ...options }, (smtp) => {
    messageStream(smtp, handler, streamOptions)
    smtp.on('error', (event) => void errors.push(event))
  })
  return { ...started, errors }
}

/** A Writable that keeps what it is given. */
function collector(): { sink: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  return { sink, chunks }
}

/** A handler that pipes the body into a collector; `result` settles with the pipeline. */
function piping() {
  const { sink, chunks } = collector()
  const result = deferred<unknown>()
  const handler: MessageStreamHandler = async (body) => {
    try {
      await pipeline(body, sink)
      result.resolve(null)
    } catch (error) {
      result.resolve(error)
      throw error
    }
  }
  return { handler, chunks, result: result.promise }
}

/** A message of `lines` numbered lines, some starting with a dot, in wire form and as delivered. */
function bigMessage(lines: number): { wire: Buffer; delivered: Buffer } {
  const text: string[] = ['Subject: big', '']
  for (let i = 0; i < lines; i++) text.push(`${i % 7 === 0 ? '.' : ''}line ${i} ${'x'.repeat(i % 60)}`)
  const delivered = text.map((line) => `${line}\r\n`).join('')
  const wire = text.map((line) => `${line.startsWith('.') ? '.' : ''}${line}\r\n`).join('') + '.\r\n'
  return { wire: Buffer.from(wire), delivered: Buffer.from(delivered) }
}

describe('messageStream', () => {
  describe('DATA', () => {
    it('delivers the exact bytes through a slow consumer, the session reading no more while the stream is full', async () => {
      const { wire, delivered } = bigMessage(5000)
      let body: Readable | null = null
      const ended = deferred()
      const { smtp, client } = await start(
        'rcpt',
        (stream) => {
          body = stream
          stream.once('end', () => ended.resolve())
          return ended.promise
        },
        { chunkSize: 1024 },
        { highWaterMark: 2048 },
      )
      expect(await client.send('DATA')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>'])

      // A socket: 4 KiB arrives per turn unless the session paused it; the consumer takes one read per turn.
      const received: Buffer[] = []
      let offset = 0
      let pausedTurns = 0
      let held = 0
      let done = false
      void ended.promise.then(() => (done = true))
      while (!done) {
        if (client.paused) pausedTurns++
        else if (offset < wire.length) {
          client.write(wire.subarray(offset, offset + 4096))
          offset += 4096
        }
        const stream = body as Readable | null
        held = Math.max(held, smtp.bufferedInput + (stream?.readableLength ?? 0))
        await nextTurn()
        const piece = stream?.read(512) as Buffer | null | undefined
        if (piece) received.push(piece)
        // Past the end of the data, a short tail comes out only without a size.
        else if (offset >= wire.length) stream?.read()
      }
      expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(Buffer.concat(received).equals(delivered)).to.equal(true)
      expect(pausedTurns, 'turns the session kept the client paused').to.be.greaterThan(100)
      // One 4 KiB read, one 1 KiB batch, the stream's 2 KiB and the batch pushed past it, with slack.
      expect(held, 'octets held by the session and the stream at most').to.be.lessThan(12 * 1024)
      expect(delivered.length).to.be.greaterThan(150_000)
    })

    it('sends the 250 only after the consumer finished and every message listener accepted', async () => {
      const chunks: Buffer[] = []
      const finalHeld = deferred<() => void>()
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk)
          callback()
        },
        final(callback) {
          finalHeld.resolve(() => callback())
        },
      })
      const listener = deferred<boolean>()
      const order: string[] = []
      const { client } = await start('rcpt', async (body) => {
        await pipeline(body, sink)
        order.push('pipeline done')
      }, {}, undefined)
      client.protocol.on('message', async () => {
        const accepted = await listener.promise
        order.push('listener accepted')
        return accepted
      })
      await client.send('DATA')
      client.write('Subject: hold\r\n\r\nbody\r\n.\r\n')
      const finish = await finalHeld.promise
      await turns()
      expect(client.transcript).not.to.include('Message accepted')
      listener.resolve(true)
      await turns()
      expect(client.transcript).not.to.include('Message accepted')
      finish()
      expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(order).to.deep.equal(['listener accepted', 'pipeline done'])
      expect(Buffer.concat(chunks).toString()).to.equal('Subject: hold\r\n\r\nbody\r\n')
    })

    it('gives an empty message an empty stream', async () => {
      const { handler, chunks, result } = piping()
      const { client } = await start('rcpt', handler)
      expect(await client.send('DATA', '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '250 2.0.0 Message accepted'])
      expect(await result).to.equal(null)
      expect(chunks).to.deep.equal([])
    })

    it('gives every transaction of a session its own stream', async () => {
      const bodies: string[] = []
      const { client } = await start('ehlo', async (body) => {
        const { sink, chunks } = collector()
        await pipeline(body, sink)
        bodies.push(Buffer.concat(chunks).toString())
      })
      for (const n of [1, 2]) {
        const replies = await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', `message ${n}`, '.')
        expect(replies.at(-1)).to.equal('250 2.0.0 Message accepted')
      }
      expect(bodies).to.deep.equal(['message 1\r\n', 'message 2\r\n'])
    })
  })

  describe('BDAT', () => {
    it('delivers the exact octets of every chunk, CRLF.CRLF included, and answers LAST after the consumer', async () => {
      const { handler, chunks, result } = piping()
      const { client } = await start('rcpt', handler, { chunkSize: 4 })
      const first = Buffer.from('Subject: b\r\n\r\n')
      const last = Buffer.from('x\r\n.\r\n\x00\xff\r\n', 'latin1')
      client.write(Buffer.concat([Buffer.from(`BDAT ${first.length}\r\n`), first]))
      expect(await client.settle()).to.deep.equal([`250 2.0.0 ${first.length} octets received`])
      client.write(Buffer.concat([Buffer.from(`BDAT ${last.length} LAST\r\n`), last]))
      expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(await result).to.equal(null)
      expect(Buffer.concat(chunks).equals(Buffer.concat([first, last]))).to.equal(true)
    })
  })

  describe('a transaction ended without acceptance', () => {
    const aborted = (error: unknown, reason: string): void => {
      expect(error).to.be.instanceOf(Error)
      expect((error as { code?: string }).code).to.equal('SMTPWIRE_ERR_ABORTED')
      expect((error as Error).message).to.match(new RegExp(`ended before its message was accepted \\(${reason}\\)$`))
    }

    it('errors the stream on RSET between BDAT chunks', async () => {
      const { handler, result } = piping()
      const { client } = await start('rcpt', handler, { chunkSize: 2 })
      client.write('BDAT 4\r\nabcd')
      expect(await client.settle()).to.deep.equal(['250 2.0.0 4 octets received'])
      expect(await client.send('RSET')).to.deep.equal(['250 2.0.0 Reset OK'])
      aborted(await result, 'reset')
    })

    it('errors the stream when the connection drops mid-DATA, and settled() waits for the handler', async () => {
      const { handler, result } = piping()
      const { client, smtp } = await start('rcpt', handler, { chunkSize: 2 })
      await client.send('DATA', 'partial line')
      client.protocol.destroy()
      await smtp.settled()
      aborted(await result, 'closed')
    })

    it('errors the stream when the connection drops while the consumer is behind, and reports no error', async () => {
      const held: Array<() => void> = []
      const slow = new Writable({
        highWaterMark: 1,
        write(_chunk, _encoding, callback) {
          held.push(() => callback())
        },
      })
      const result = deferred<unknown>()
      const { client, smtp, errors } = await start(
        'rcpt',
        (body) => pipeline(body, slow).catch((error: unknown) => result.resolve(error)),
        { chunkSize: 4 },
        { highWaterMark: 4 },
      )
      await client.send('DATA')
      for (let i = 0; i < 20; i++) client.write(`line ${i}\r\n`)
      await turns()
      expect(smtp.isWaiting, 'a chunk waits for the consumer').to.equal(true)
      client.protocol.destroy()
      await smtp.settled()
      aborted(await result.promise, 'closed')
      expect(errors).to.deep.equal([])
      expect(held.length).to.be.greaterThan(0)
    })

    it('errors the stream when the message exceeds maxMessageSize, and answers 552', async () => {
      const { handler, result } = piping()
      const { client } = await start('rcpt', handler, { chunkSize: 4, maxMessageSize: 10 })
      // Each write is one read: the first line reaches the stream before the limit is crossed.
      expect(await client.send('DATA', 'short')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>'])
      expect(await client.send('this line is too long', '.')).to.deep.equal(['552 5.3.4 Message size exceeds fixed maximum message size'])
      aborted(await result, 'rejected')
    })

    it('errors the stream when another listener refuses the message part-way', async () => {
      const { handler, result } = piping()
      const { client } = await start('rcpt', handler, { chunkSize: 4 })
      let chunks = 0
      client.protocol.on('dataChunk', () => ++chunks < 2)
      expect(await client.send('DATA', 'Subject: x', '')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>'])
      expect(await client.send('body', '.')).to.deep.equal(['550 5.7.1 Message rejected'])
      aborted(await result, 'rejected')
    })
  })

  describe('the handler answers', () => {
    it('refuses the message with its SmtpError thrown before the body ended, discarding the rest', async () => {
      let seen = 0
      const { client, errors } = await start(
        'rcpt',
        async (body) => {
          for await (const chunk of body) {
            seen += (chunk as Buffer).length
            throw new SmtpError(554, 'No thanks', '5.6.0')
          }
        },
        { chunkSize: 8 },
        { highWaterMark: 8 },
      )
      expect(await client.send('DATA')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>'])
      // One read per line, as from a socket: the stream never holds more than a line or two.
      for (let i = 0; i < 200; i++) client.write(`line ${i}\r\n`)
      client.write('.\r\n')
      expect(await client.settle()).to.deep.equal(['554 5.6.0 No thanks'])
      expect(seen).to.be.greaterThan(0).and.lessThan(20)
      expect(errors).to.deep.equal([])
      expect(await client.command('NOOP')).to.equal('250 2.0.0 OK')
    })

    it('waits for the handler to say why when its consumer destroyed the stream mid-message', async () => {
      const verdict = deferred<boolean>()
      const { client, errors } = await start(
        'rcpt',
        async (body) => {
          await new Promise((resolve) => body.once('data', resolve))
          body.destroy()
          if (!(await verdict.promise)) throw new SmtpError(554, 'Cannot store that', '5.3.0')
        },
        { chunkSize: 4 },
      )
      await client.send('DATA', 'first line')
      client.write('second line\r\n.\r\n')
      await turns()
      expect(client.transcript).not.to.include('554')
      verdict.resolve(false)
      expect(await client.settle()).to.deep.equal(['554 5.3.0 Cannot store that'])
      expect(errors).to.deep.equal([])
    })

    it('refuses with the SmtpError a handler throws synchronously', async () => {
      const { client, errors } = await start('rcpt', () => {
        throw new SmtpError(554, 'Not today', '5.7.1')
      })
      expect(await client.send('DATA', 'x', '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '554 5.7.1 Not today'])
      expect(errors).to.deep.equal([])
    })

    it('refuses with 550 when it resolves to false', async () => {
      const { client } = await start('rcpt', async (body) => {
        body.resume()
        await new Promise((resolve) => body.once('end', resolve))
        return false
      })
      expect(await client.send('DATA', 'x', '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '550 5.7.1 Message rejected'])
    })

    it('answers 451 and reports SMTPWIRE_ERR_STREAM when it accepts without reading the body', async () => {
      const { client, errors } = await start('rcpt', () => true, { chunkSize: 4 }, { highWaterMark: 4 })
      expect(await client.send('DATA')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>'])
      for (let i = 0; i < 100; i++) client.write(`line ${i}\r\n`)
      client.write('.\r\n')
      expect(await client.settle()).to.deep.equal(['451 4.3.0 Local error in processing, try again later'])
      expect(errors.map(({ event, error }) => [event, (error as { code?: string }).code])).to.deep.equal([['dataChunk', 'SMTPWIRE_ERR_STREAM']])
    })

    it('answers 451 and reports the error when its consumer fails', async () => {
      const failing = new Writable({
        write(_chunk, _encoding, callback) {
          callback(new Error('disk full'))
        },
      })
      const { client, errors } = await start('rcpt', (body) => pipeline(body, failing), { chunkSize: 4 })
      expect(await client.send('DATA', 'one line', 'another line', '.')).to.deep.equal([
        '354 End data with <CR><LF>.<CR><LF>',
        '451 4.3.0 Local error in processing, try again later',
      ])
      expect(errors.map(({ error }) => error.message)).to.deep.equal(['disk full'])
    })

    it('answers each LMTP recipient with its own verdict, after the consumer', async () => {
      const { SmtpProtocol, SmtpReply, SmtpDriver } = await import('../lib/index.js')
      const smtp = new SmtpProtocol({ domain: 'mx.test', lmtp: true })
      const { sink, chunks } = collector()
      messageStream(smtp, async (body) => {
        await pipeline(body, sink)
        return [true, new SmtpReply(452, 'Mailbox full, try later', '4.2.2')]
      })
      const client = new SmtpDriver(smtp)
      await client.connect()
      await client.command('LHLO client.test')
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<one@mx.test>', 'RCPT TO:<two@mx.test>', 'DATA')
      expect(await client.send('Subject: lmtp', '', 'hi', '.')).to.deep.equal(['250 2.0.0 Message accepted', '452 4.2.2 Mailbox full, try later'])
      expect(Buffer.concat(chunks).toString()).to.equal('Subject: lmtp\r\n\r\nhi\r\n')
    })

    it('passes an accepting SmtpReply through as the 250', async () => {
      const { SmtpReply } = await import('../lib/errors.js')
      const { client } = await start('rcpt', async (body, { transaction }) => {
        await pipeline(body, collector().sink)
        return new SmtpReply(250, `Queued as ${transaction.id}`, '2.0.0')
      })
      const replies = await client.send('DATA', 'x', '.')
      expect(replies[1]).to.match(/^250 2\.0\.0 Queued as \w+\.\w+$/)
    })
  })

  it('removes its listeners with the function it returns, and the body is collected again', async () => {
    const { smtp, client } = await startAt('rcpt', {}, () => undefined)
    const detach = messageStream(smtp, () => true)
    expect([smtp.listenerCount('dataChunk'), smtp.listenerCount('message'), smtp.listenerCount('transaction')]).to.deep.equal([1, 1, 1])
    detach()
    expect([smtp.listenerCount('dataChunk'), smtp.listenerCount('message'), smtp.listenerCount('transaction')]).to.deep.equal([0, 0, 0])
    let body = ''
    smtp.on('message', (event) => void (body = String(event.body)))
    await client.send('DATA', 'kept', '.')
    expect(body).to.equal('kept\r\n')
  })

  it('refuses a highWaterMark that is not a positive integer', async () => {
    const { smtp } = await startAt('connected')
    for (const highWaterMark of [0, -1, 1.5, Number.NaN]) {
      expect(() => messageStream(smtp, () => true, { highWaterMark }))
        .to.throw('option `highWaterMark` must be a positive integer')
        .with.property('code', 'SMTPWIRE_ERR_INVALID_OPTION')
    }
  })
})
