// The hostile-input corpus: for each attack, the reply, that the session (or server) survives,
// and that the octets the session holds (`bufferedInput`) stay under a bound whatever is sent.

import { expect } from 'chai'
import { SmtpDriver } from '../lib/driver.js'
import type { SmtpOptions } from '../lib/options.js'
import { SmtpProtocol } from '../lib/protocol.js'
import type { SessionInfo } from '../lib/session-info.js'
import { SmtpServer } from '../lib/server.js'
import { createSelfSignedCertificate } from '../lib/certificate.js'
import { deferred, startAt, type Rung } from './helpers/ladder.js'
import { SocketClient } from './helpers/socket-client.js'

const MiB = 1024 * 1024

/** Feeds `input` in pieces of `piece` octets, checking the session's buffer after each; returns the replies. */
async function feedBounded(client: SmtpDriver, input: Buffer, piece: number, bound: number): Promise<string[]> {
  for (let at = 0; at < input.length; at += piece) {
    client.write(input.subarray(at, at + piece))
    expect(client.protocol.bufferedInput, `after ${at + piece} octets`).to.be.at.most(bound)
  }
  return client.settle()
}

interface HostileCase {
  name: string
  from: Rung
  options?: SmtpOptions
  input: () => Buffer
  /** Octets per write. */
  piece?: number
  /** The most the session may hold at any time. */
  bound: number
  replies: (replies: string[]) => void
  /** What must hold afterwards: by default the session still answers NOOP. */
  after?: 'alive' | 'closed'
}

const cases: HostileCase[] = [
  {
    name: 'NUL bytes in commands',
    from: 'ehlo',
    input: () => Buffer.from('MAIL FROM:<a@b.test>\0\r\n\0\0\0\r\nRCPT\0TO:<x@y>\r\n'),
    bound: 64,
    replies: (r) => expect(r).to.deep.equal(['501 5.5.4 Syntax error in parameters or arguments', '500 5.5.1 Command unrecognized', '500 5.5.1 Command unrecognized']),
  },
  {
    name: '8-bit bytes and invalid UTF-8 in commands',
    from: 'ehlo',
    input: () => Buffer.from('EHLO \xff\xfe\r\nMAIL FROM:<\xc3\x28@x.test>\r\n\xe9\xe9\xe9\r\n', 'latin1'),
    bound: 64,
    replies: (r) => expect(r).to.deep.equal(Array(3).fill('500 5.5.2 Command is not valid UTF-8')),
  },
  {
    name: 'a 1 MiB command line without a newline, then its end',
    from: 'ehlo',
    input: () => Buffer.concat([Buffer.from('NOOP '), Buffer.alloc(MiB, 'x'), Buffer.from('\r\n')]),
    piece: 64 * 1024,
    bound: 64 * 1024 + 1024, // one read plus the line limit: the long line itself is never kept
    replies: (r) => expect(r).to.deep.equal(['500 5.5.2 Line too long']),
  },
  {
    name: 'a 1 MiB SASL response line',
    from: 'ehlo',
    options: { allowInsecureAuth: true, authMechanisms: ['PLAIN'] },
    input: () => Buffer.concat([Buffer.from('AUTH PLAIN\r\n'), Buffer.alloc(MiB, 'A'), Buffer.from('\r\n')]),
    piece: 64 * 1024,
    bound: 64 * 1024 + 12288,
    replies: (r) => expect(r).to.deep.equal(['334 ', '500 5.5.2 Line too long']),
  },
  {
    name: 'a 1 MiB line inside DATA, under the strict text-line limit',
    from: 'rcpt',
    options: { chunkSize: 4096, maxTextLineLength: 1000 },
    input: () => Buffer.concat([Buffer.from('DATA\r\nSubject: x\r\n\r\n'), Buffer.alloc(MiB, 'y'), Buffer.from('\r\n.\r\n')]),
    piece: 64 * 1024,
    bound: 2 * 64 * 1024, // the line breaks the text-line limit, so the body stops being kept
    replies: (r) => expect(r).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '550 5.6.0 Message contains a line longer than the limit']),
  },
  {
    name: 'a message far past maxMessageSize, collected',
    from: 'rcpt',
    options: { maxMessageSize: 100_000, maxTextLineLength: 0 },
    input: () => Buffer.concat([Buffer.from('DATA\r\n'), Buffer.alloc(4 * MiB, 'z'), Buffer.from('\r\n.\r\n')]),
    piece: 64 * 1024,
    bound: 100_000 + 64 * 1024,
    replies: (r) => expect(r).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '552 5.3.4 Message size exceeds fixed maximum message size']),
  },
  {
    name: '10 000 RCPTs pipelined in one go',
    from: 'mail',
    input: () => Buffer.from(Array.from({ length: 10_000 }, (_, i) => `RCPT TO:<user${i}@d.test>\r\n`).join('')),
    piece: 64 * 1024,
    bound: 64 * 1024 + 1024,
    replies: (r) => {
      expect(r).to.have.length(10_000)
      expect(r.filter((reply) => reply === '250 2.1.5 Recipient OK')).to.have.length(100)
      expect(r.slice(100).every((reply) => reply === '452 4.5.3 Too many recipients')).to.equal(true)
    },
  },
  {
    name: 'DATA and BDAT before MAIL',
    from: 'ehlo',
    input: () => Buffer.from('DATA\r\nBDAT 4 LAST\r\nQUITNOOP\r\n'),
    bound: 64,
    replies: (r) => expect(r).to.deep.equal(['503 5.5.1 Need MAIL command first', '503 5.5.1 Need MAIL command first', '250 2.0.0 OK']),
  },
  {
    name: 'a flood of unknown commands',
    from: 'ehlo',
    input: () => Buffer.from('JUNK\r\n'.repeat(1000)),
    bound: 8 * 1024,
    replies: (r) => {
      expect(r).to.have.length(10)
      expect(r.at(-1)).to.equal('421 4.7.0 Too many errors, closing connection')
    },
    after: 'closed',
  },
  {
    name: 'an AUTH brute force',
    from: 'ehlo',
    options: { allowInsecureAuth: true, maxAuthFailures: 3 },
    input: () => Buffer.from(Array.from({ length: 50 }, (_, i) => `AUTH PLAIN ${Buffer.from(`\0alice\0guess${i}`).toString('base64')}\r\n`).join('')),
    bound: 8 * 1024,
    replies: (r) => {
      expect(r).to.deep.equal([
        '535 5.7.8 Authentication credentials invalid',
        '535 5.7.8 Authentication credentials invalid',
        '421 4.7.0 Too many failed authentication attempts, closing connection',
      ])
    },
    after: 'closed',
  },
]

describe('hostile input', () => {
  for (const c of cases) {
    it(`survives ${c.name}, in bounded memory`, async () => {
      const { client } = await startAt(c.from, { domain: 'mx.test', ...c.options }, (smtp) => {
        smtp.on('plainAuth', ({ password }) => password === 'the right one')
      })
      c.replies(await feedBounded(client, c.input(), c.piece ?? 1024, c.bound))
      if ((c.after ?? 'alive') === 'alive') expect(await client.command('NOOP')).to.match(/^250 /)
      else expect(client.ended).to.equal(true)
    })
  }

  it('refuses STARTTLS again and again without losing the session', async () => {
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    const client = new SmtpDriver(smtp, { handshake: async () => ({ protocol: 'TLSv1.3', cipher: null, servername: null, implicit: false }) })
    await client.connect()
    await client.command('EHLO c.test')
    await client.command('STARTTLS')
    await client.command('EHLO c.test')
    expect(await client.send(...Array<string>(5).fill('STARTTLS'))).to.deep.equal(Array(5).fill('503 5.5.1 TLS already active'))
    expect(await client.command('NOOP')).to.equal('250 2.0.0 OK')
  })
})

describe('hostile connections over real sockets', () => {
  let server: SmtpServer | null = null

  afterEach(async () => {
    await server?.close()
    server = null
  })

  it('keeps what it buffers for a client that floods commands and never reads bounded, then answers them all', async () => {
    let session: SmtpProtocol | null = null
    server = new SmtpServer({ domain: 'mx.test', maxErrors: 0 }, (smtp) => void (session = smtp))
    const { port } = await server.listen(0, '127.0.0.1')
    const client = await SocketClient.connect(port)
    await client.read()
    client.socket.pause() // the client stops reading
    const flood = Buffer.from('NOOP\r\n'.repeat(200_000)) // 1.2 MB of commands, 2.4 MB of replies
    client.socket.write(flood)
    // Wait until the server is stuck on its full output, then look at what it holds.
    while (session === null || (session as SmtpProtocol).session.counters.commands < 1000) await new Promise((resolve) => setImmediate(resolve))
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve))
    const held = (session as unknown as SmtpProtocol).bufferedInput
    expect(held).to.be.at.most(2 * 64 * 1024)
    client.socket.resume()
    const replies = await client.read(200_000)
    expect(replies.every((reply) => reply === '250 OK')).to.equal(true)
    client.socket.destroy()
  })

  describe('a client that resets the connection', () => {
    const { key, cert } = createSelfSignedCertificate()
    const states: Array<[state: string, steps: (client: SocketClient) => Promise<void>, aborted: boolean]> = [
      ['before reading the greeting', async () => undefined, false],
      ['after EHLO', async (c) => void (await c.command('EHLO c.test')), false],
      ['after MAIL', async (c) => { c.write('EHLO c.test', 'MAIL FROM:<a@b.test>'); await c.read(2) }, true],
      ['after RCPT', async (c) => { c.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>'); await c.read(3) }, true],
      ['in DATA', async (c) => { c.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'partial'); await c.read(4) }, true],
      ['inside a BDAT chunk', async (c) => { c.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'BDAT 100 LAST', 'short'); await c.read(3) }, true],
      ['in an AUTH exchange', async (c) => { c.write('EHLO c.test', 'AUTH LOGIN'); await c.read(2) }, false],
      ['after STARTTLS, before the handshake', async (c) => { c.write('EHLO c.test', 'STARTTLS'); await c.read(2) }, false],
    ]
    for (const [state, steps, aborted] of states) {
      it(`${state}: the session ends cleanly and the server keeps serving`, async () => {
        const closed = deferred<{ reason: string; aborted: boolean; session: SessionInfo }>()
        const errors: Error[] = []
        server = new SmtpServer({ domain: 'mx.test', tls: { key, cert }, allowInsecureAuth: true, authMechanisms: ['LOGIN'] }, (smtp) => {
          smtp.on('close', ({ reason, aborted: cut, session }) => closed.resolve({ reason, aborted: cut, session }))
          smtp.on('error', ({ error }) => void errors.push(error))
          smtp.on('auth', () => false)
        })
        const { port } = await server.listen(0, '127.0.0.1')
        const client = await SocketClient.connect(port)
        if (state !== 'before reading the greeting') await client.read()
        await steps(client)
        client.socket.resetAndDestroy()
        const result = await closed.promise
        expect(result.reason).to.be.oneOf(['peer', 'error'])
        expect(result.aborted).to.equal(aborted)
        expect(errors.filter((e) => (e as { code?: string }).code !== 'SMTPWIRE_ERR_TLS')).to.deep.equal([])
        const next = await SocketClient.connect(port)
        expect(await next.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
        next.socket.destroy()
      })
    }
  })
})
