// The Host is a seam: command handlers run against a plain object standing in for the engine,
// with the real Session owner behind it. No engine, no transport, no listeners registry (issue 12).

import { expect } from 'chai'
import { handleCommand } from '../lib/commands/index.js'
import { SmtpError } from '../lib/errors.js'
import type { CloseReason, DecisionEvents, NoticeEvents, Settled } from '../lib/events.js'
import type { Host, InputReader } from '../lib/host.js'
import { SILENT } from '../lib/logger.js'
import { resolveOptions, type SmtpOptions } from '../lib/options.js'
import { parseCommand } from '../lib/parser.js'
import { helloReply, REPLIES, type Reply } from '../lib/replies.js'
import { Session } from '../lib/session.js'

interface FakeHost extends Host {
  /** Replies in the order sent; errors are also in `errors`. */
  readonly sent: Reply[]
  readonly errors: Reply[]
  /** Decisions asked, notices emitted, transactions ended, upgrades and closes, in order. */
  readonly happened: string[]
  readers: InputReader[]
  /** What listeners of each decision answer (settled synchronously); none: nobody listens, accepted. */
  readonly verdicts: Partial<Record<keyof DecisionEvents, readonly Settled[]>>
  /** Notice events someone listens to. */
  readonly noticed: Set<keyof NoticeEvents>
  canUpgrade: boolean
  run(line: string): void
}

function fakeHost(options: SmtpOptions = {}): FakeHost {
  const happened: string[] = []
  const session = new Session((reason) => happened.push(`transaction ended: ${reason}`))
  const host: FakeHost = {
    options: resolveOptions({ domain: 'mx.test', ...options }),
    session,
    canUpgrade: false,
    sent: [],
    errors: [],
    happened,
    readers: [],
    verdicts: {},
    noticed: new Set(),
    send(reply) {
      host.sent.push(reply)
    },
    sendHello(clientName, keywords) {
      host.sent.push(helloReply(host.options.domain, clientName, keywords))
    },
    sendError(reply) {
      host.errors.push(reply)
      host.sent.push(reply)
    },
    decide(event, _payload, then) {
      happened.push(`decide ${event}`)
      then(host.verdicts[event] ?? [])
    },
    notice(event) {
      happened.push(`notice ${event}`)
    },
    // Truthful, as the engine's is: handlers build no payload for an event nobody listens to.
    hasListeners: (event) => event in host.verdicts || host.noticed.has(event as keyof NoticeEvents),
    setReader(reader) {
      if (reader) host.readers.push(reader)
    },
    beginTls() {
      happened.push('beginTls')
    },
    log: SILENT,
    trace() {},
    close(reason: CloseReason, reply?: Reply) {
      happened.push(`close ${reason}`)
      if (reply) host.sent.push(reply)
    },
    run(line) {
      handleCommand(host, parseCommand(line))
    },
  }
  return host
}

const firstLine = (reply: Reply | undefined): string => {
  const text = reply?.text
  return `${reply?.code} ${Array.isArray(text) ? text[0] : text}`
}

describe('Host (a plain object standing in for the engine)', () => {
  it('refuses MAIL before HELO and opens no transaction', () => {
    const host = fakeHost()
    host.run('MAIL FROM:<a@example.com>')
    expect(host.errors).to.deep.equal([REPLIES.needHelo])
    expect(host.session.transaction).to.equal(null)
  })

  it('greets through the session transition and asks the ehlo decision first', () => {
    const host = fakeHost()
    host.run('EHLO client.example')
    expect(host.happened).to.deep.equal(['decide ehlo', 'transaction ended: helo'])
    expect(host.session.info.heloVerb).to.equal('EHLO')
    expect(host.session.info.heloName).to.equal('client.example')
    expect(firstLine(host.sent[0])).to.equal('250 mx.test greets client.example')
  })

  it('begins a transaction when the sender decision accepts, and adds an accepted recipient', () => {
    const host = fakeHost()
    host.run('EHLO client.example')
    host.run('MAIL FROM:<a@example.com>')
    host.run('RCPT TO:<b@example.net>')
    const transaction = host.session.transaction
    expect(transaction?.from?.address).to.equal('a@example.com')
    expect(transaction?.to.map((recipient) => recipient.address.address)).to.deep.equal(['b@example.net'])
    expect(transaction?.id).to.equal(`${host.session.info.id}.1`)
    expect(host.session.info.counters.transactions).to.equal(1)
    expect(host.sent.slice(1)).to.deep.equal([REPLIES.senderOk, REPLIES.recipientOk])
  })

  it('asks no decision nobody listens to, and the ones somebody does', () => {
    const host = fakeHost()
    host.run('EHLO client.example')
    host.run('MAIL FROM:<a@example.com>')
    host.run('RCPT TO:<b@example.net>')
    host.run('DATA')
    expect(host.happened.filter((line) => line.startsWith('decide'))).to.deep.equal(['decide ehlo'])
    expect(host.sent.slice(1)).to.deep.equal([REPLIES.senderOk, REPLIES.recipientOk, REPLIES.startData])

    const heard = fakeHost()
    heard.verdicts.sender = []
    heard.verdicts.recipient = []
    heard.verdicts.data = []
    heard.run('EHLO client.example')
    heard.run('MAIL FROM:<a@example.com>')
    heard.run('RCPT TO:<b@example.net>')
    heard.run('DATA')
    expect(heard.happened.filter((line) => line.startsWith('decide'))).to.deep.equal(['decide ehlo', 'decide sender', 'decide recipient', 'decide data'])
    expect(heard.sent.slice(1)).to.deep.equal([REPLIES.senderOk, REPLIES.recipientOk, REPLIES.startData])
  })

  it('sends the listener’s SmtpError and adds no recipient when the recipient decision refuses', () => {
    const host = fakeHost()
    host.run('EHLO client.example')
    host.run('MAIL FROM:<a@example.com>')
    const refusal = new SmtpError(550, 'No such user', '5.1.1')
    host.verdicts.recipient = [{ ok: false, error: refusal }]
    host.run('RCPT TO:<b@example.net>')
    expect(host.sent.at(-1)).to.equal(refusal)
    expect(host.session.transaction?.to).to.deep.equal([])
  })

  it('ends the transaction on RSET through the session, which reports it', () => {
    const host = fakeHost()
    host.run('EHLO client.example')
    host.run('MAIL FROM:<a@example.com>')
    const transaction = host.session.transaction
    host.noticed.add('reset')
    host.run('RSET')
    expect(host.session.transaction).to.equal(null)
    expect(transaction?.signal.aborted).to.equal(true)
    expect(host.happened.slice(-2)).to.deep.equal(['notice reset', 'transaction ended: reset'])
  })

  it('offers and starts STARTTLS only when the host can upgrade', () => {
    const host = fakeHost()
    host.run('EHLO client.example')
    expect(host.sent[0]?.text).to.not.include('STARTTLS')
    host.run('STARTTLS')
    expect(host.errors).to.deep.equal([REPLIES.commandNotImplemented])

    const upgradable = fakeHost()
    upgradable.canUpgrade = true
    upgradable.run('EHLO client.example')
    expect(upgradable.sent[0]?.text).to.include('STARTTLS')
    upgradable.run('STARTTLS')
    expect(upgradable.happened.at(-1)).to.equal('beginTls')
  })

  it('switches to a body reader after DATA is accepted, with the body on the transaction', () => {
    const host = fakeHost()
    for (const line of ['EHLO client.example', 'MAIL FROM:<a@example.com>', 'RCPT TO:<b@example.net>', 'DATA']) host.run(line)
    expect(host.sent.at(-1)).to.equal(REPLIES.startData)
    expect(host.readers).to.have.length(1)
    expect(host.session.transaction?.via).to.equal('DATA')
    expect(host.session.transaction?.body).to.not.equal(null)
  })

  it('serves only QUIT after the connect decision refused the client', () => {
    const host = fakeHost()
    host.session.connectRefused()
    host.run('EHLO client.example')
    expect(host.errors).to.deep.equal([REPLIES.rejectedConnection])
    host.run('QUIT')
    expect(host.happened.at(-1)).to.equal('close quit')
  })
})
