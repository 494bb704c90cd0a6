// The diagnostics_channel payloads of an in-memory session (SmtpDriver): exact fields, exact order,
// and nothing measured when nobody subscribes. Over sockets: spec/server-diagnostics.spec.ts.

import { expect } from 'chai'
import sinon from 'sinon'
import { CHANNELS } from '../lib/diagnostics.js'
import { SmtpDriver } from '../lib/driver.js'
import { SmtpError } from '../lib/errors.js'
import { SmtpProtocol } from '../lib/protocol.js'
import { DiagnosticsRecorder, summary } from './helpers/diagnostics-recorder.js'

const plainAuth = (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`).toString('base64')

describe('diagnostics channels', () => {
  let recorder: DiagnosticsRecorder | null = null
  afterEach(() => {
    recorder?.stop()
    recorder = null
    sinon.restore()
  })

  /** A protocol whose messages alone are recorded (from now on, by a new recorder). */
  function observed(options: ConstructorParameters<typeof SmtpProtocol>[0] = {}): SmtpProtocol {
    const smtp = new SmtpProtocol({ domain: 'mx.test', ...options })
    recorder?.stop()
    recorder = new DiagnosticsRecorder(({ payload }) => payload.session === smtp.session)
    return smtp
  }

  /** The id of each transaction of `smtp`, as it ends. */
  function transactionIds(smtp: SmtpProtocol): string[] {
    const ids: string[] = []
    smtp.on('transaction', ({ transaction }) => void (transaction && ids.push(transaction.id)))
    return ids
  }

  it('names its channels smtpwire:…', () => {
    expect(CHANNELS).to.deep.equal({
      connectionOpen: 'smtpwire:connection:open',
      connectionClose: 'smtpwire:connection:close',
      command: 'smtpwire:command',
      reply: 'smtpwire:reply',
      message: 'smtpwire:message',
      tlsHandshake: 'smtpwire:tls:handshake',
      auth: 'smtpwire:auth',
      decision: 'smtpwire:listener:decision',
    })
  })

  it('publishes a whole session in order: open, replies, commands, decisions, AUTH, the message, close', async () => {
    const smtp = observed({ allowInsecureAuth: true })
    smtp.on('plainAuth', ({ password }) => password === 'right')
    smtp.on('sender', () => true)
    smtp.on('recipient', async () => true)
    smtp.on('message', () => undefined)
    const ids = transactionIds(smtp)
    const client = new SmtpDriver(smtp)
    await client.connect({ remoteAddress: '192.0.2.1', remotePort: 40000 })
    await client.command('EHLO c.test')
    expect(await client.command(`AUTH PLAIN ${plainAuth('alice', 'wrong')}`)).to.match(/^535 /)
    expect(await client.command(`AUTH PLAIN ${plainAuth('alice', 'right')}`)).to.match(/^235 /)
    await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA')
    expect(await client.send('Subject: t', '', 'hi', '.')).to.deep.equal(['250 2.0.0 Message accepted'])
    await client.command('FOO')
    await client.command('MAIL FROM:<bad')
    await client.command('QUIT')
    const transaction = ids[0]
    const decision = (event: string, async = false): [string, Record<string, unknown>] => [
      'smtpwire:listener:decision',
      { session: 'session', event, listeners: 1, async, outcome: 'accept', duration: 'ms' },
    ]
    const reply = (text: string): [string, Record<string, unknown>] => ['smtpwire:reply', { session: 'session', reply: text }]
    const command = (verb: string, code: number): [string, Record<string, unknown>] => [
      'smtpwire:command',
      { session: 'session', verb, code, duration: 'ms' },
    ]
    expect(summary(recorder?.take() ?? [], smtp.session)).to.deep.equal([
      ['smtpwire:connection:open', { session: 'session' }],
      reply('220 mx.test ESMTP smtpwire'),
      reply('250 mx.test greets c.test'),
      command('EHLO', 250),
      ['smtpwire:listener:decision', { session: 'session', event: 'plainAuth', listeners: 1, async: false, outcome: 'reject', duration: 'ms' }],
      ['smtpwire:auth', { session: 'session', mechanism: 'PLAIN', username: 'alice', result: 'refused', code: 535 }],
      reply('535 Authentication credentials invalid'),
      command('AUTH', 535),
      decision('plainAuth'),
      ['smtpwire:auth', { session: 'session', mechanism: 'PLAIN', username: 'alice', result: 'accepted', code: 235 }],
      reply('235 Authentication succeeded'),
      command('AUTH', 235),
      decision('sender'),
      reply('250 Sender OK'),
      command('MAIL', 250),
      decision('recipient', true),
      reply('250 Recipient OK'),
      command('RCPT', 250),
      reply('354 End data with <CR><LF>.<CR><LF>'),
      command('DATA', 354),
      decision('message'),
      ['smtpwire:message', { session: 'session', transaction, result: 'accepted', size: 18, recipients: 1, code: 250 }],
      reply('250 Message accepted'),
      reply('500 Command unrecognized'),
      command('UNKNOWN', 500),
      reply('501 Bad sender address syntax'),
      command('MAIL', 501),
      reply('221 mx.test Service closing transmission channel'),
      command('QUIT', 221),
      ['smtpwire:connection:close', { session: 'session', reason: 'quit', aborted: false, duration: 'ms' }],
    ])
  })

  it('reports a refused message, a listener that threw as failed, and data cut off as failed with no code', async () => {
    const smtp = observed({ maxMessageSize: 10 })
    let fail = true
    smtp.on('message', () => {
      if (fail) throw new Error('disk full')
    })
    smtp.on('error', () => undefined)
    const ids = transactionIds(smtp)
    const client = new SmtpDriver(smtp)
    await client.connect()
    await client.send('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA')
    expect(await client.send('0123456789abcdef', '.')).to.deep.equal(['552 5.3.4 Message size exceeds fixed maximum message size'])
    await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA')
    expect(await client.send('short', '.')).to.deep.equal(['451 4.3.0 Local error in processing, try again later'])
    fail = false
    await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<y@mx.test>', 'RCPT TO:<z@mx.test>', 'DATA', 'part')
    await client.end()
    const outcomes = (recorder?.take() ?? []).filter((e) => e.channel === 'smtpwire:message' || e.channel === 'smtpwire:connection:close')
    expect(summary(outcomes, smtp.session)).to.deep.equal([
      // the size stops at maxMessageSize (10), though 18 octets were sent
      ['smtpwire:message', { session: 'session', transaction: ids[0], result: 'refused', size: 10, recipients: 1, code: 552 }],
      ['smtpwire:message', { session: 'session', transaction: ids[1], result: 'failed', size: 7, recipients: 1, code: 451 }],
      ['smtpwire:message', { session: 'session', transaction: ids[2], result: 'failed', size: 6, recipients: 2, code: null }],
      ['smtpwire:connection:close', { session: 'session', reason: 'peer', aborted: true, duration: 'ms' }],
    ])
  })

  it('reports a refusal by SmtpError as refused with its code, and a 421 that ends the session', async () => {
    const smtp = observed()
    smtp.on('message', () => {
      throw new SmtpError(421, 'Going away now', '4.3.2')
    })
    const ids = transactionIds(smtp)
    const client = new SmtpDriver(smtp)
    await client.connect()
    await client.send('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA')
    await client.send('hi', '.')
    const tail = summary(recorder?.take() ?? [], smtp.session).slice(-4)
    expect(tail).to.deep.equal([
      ['smtpwire:listener:decision', { session: 'session', event: 'message', listeners: 1, async: false, outcome: 'reject', duration: 'ms' }],
      ['smtpwire:message', { session: 'session', transaction: ids[0], result: 'refused', size: 4, recipients: 1, code: 421 }],
      ['smtpwire:reply', { session: 'session', reply: '421 Going away now' }],
      ['smtpwire:connection:close', { session: 'session', reason: 'protocol', aborted: true, duration: 'ms' }],
    ])
  })

  it('reports STARTTLS handshakes, done and failed, with the session', async () => {
    const tls = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', servername: null, implicit: false }
    const smtp = observed()
    const client = new SmtpDriver(smtp, { handshake: () => Promise.resolve(tls) })
    await client.connect({ remoteAddress: '192.0.2.9', remotePort: 40001 })
    await client.command('EHLO c.test')
    expect(await client.command('STARTTLS')).to.equal('220 2.0.0 Ready to start TLS')
    const handshake = (recorder?.take() ?? []).filter((e) => e.channel === 'smtpwire:tls:handshake')
    expect(summary(handshake, smtp.session)).to.deep.equal([
      [
        'smtpwire:tls:handshake',
        { session: 'session', remoteAddress: '192.0.2.9', remotePort: 40001, implicit: false, tls, error: null, duration: 'ms' },
      ],
    ])

    const failing = observed()
    const second = new SmtpDriver(failing, { handshake: () => Promise.reject(new Error('bad record mac')) })
    await second.connect({ remoteAddress: '192.0.2.9', remotePort: 40002 })
    await second.command('EHLO c.test')
    await second.send('STARTTLS')
    const events = summary(recorder?.take() ?? [], failing.session).slice(-4)
    expect(events).to.deep.equal([
      ['smtpwire:reply', { session: 'session', reply: '220 Ready to start TLS' }],
      ['smtpwire:command', { session: 'session', verb: 'STARTTLS', code: 220, duration: 'ms' }],
      [
        'smtpwire:tls:handshake',
        { session: 'session', remoteAddress: '192.0.2.9', remotePort: 40002, implicit: false, tls: null, error: 'bad record mac', duration: 'ms' },
      ],
      ['smtpwire:connection:close', { session: 'session', reason: 'error', aborted: false, duration: 'ms' }],
    ])
  })

  it('times a command across its SASL challenges, up to the final reply', async () => {
    const smtp = observed({ allowInsecureAuth: true })
    smtp.on('plainAuth', async () => true)
    const client = new SmtpDriver(smtp)
    await client.connect()
    await client.command('EHLO c.test')
    expect(await client.command('AUTH PLAIN')).to.equal('334 ')
    expect(await client.command(plainAuth('bob', 'pw'))).to.match(/^235 /)
    const tail = summary(recorder?.take() ?? [], smtp.session).slice(-5)
    expect(tail).to.deep.equal([
      ['smtpwire:reply', { session: 'session', reply: '334 ' }],
      ['smtpwire:listener:decision', { session: 'session', event: 'plainAuth', listeners: 1, async: true, outcome: 'accept', duration: 'ms' }],
      ['smtpwire:auth', { session: 'session', mechanism: 'PLAIN', username: 'bob', result: 'accepted', code: 235 }],
      ['smtpwire:reply', { session: 'session', reply: '235 Authentication succeeded' }],
      ['smtpwire:command', { session: 'session', verb: 'AUTH', code: 235, duration: 'ms' }],
    ])
  })

  it('reads no clock and publishes nothing when nobody subscribes', async () => {
    const now = sinon.spy(performance, 'now')
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    smtp.on('recipient', async () => true)
    const client = new SmtpDriver(smtp)
    await client.connect()
    await client.send('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA')
    await client.send('hi', '.', 'QUIT')
    expect(now.callCount, 'performance.now() calls').to.equal(0)

    // The same session observed reads the clock: the spy above can see it.
    const watched = observed()
    watched.on('recipient', async () => true)
    const second = new SmtpDriver(watched)
    await second.connect()
    await second.send('EHLO c.test', 'QUIT')
    expect(now.callCount).to.be.greaterThan(0)
  })
})
