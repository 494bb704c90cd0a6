// Session: the one owner of session and transaction state. Its transitions, and the rule that no
// other lib file writes a session or transaction field (issue 12).

import { expect } from 'chai'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MessageBody } from '../lib/message-body.js'
import type { MailParams } from '../lib/params.js'
import { newSession, Session, type TransactionState } from '../lib/session.js'
import type { TlsInfo, TransactionEndReason } from '../lib/session-info.js'
import { mailbox } from './helpers/mailbox.js'

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url))
const TLS: TlsInfo = { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', servername: null, implicit: false }
const PARAMS = {} as MailParams

function recorded(): { session: Session; ended: Array<[TransactionEndReason, TransactionState | null]> } {
  const ended: Array<[TransactionEndReason, TransactionState | null]> = []
  const session = new Session((reason, transaction) => ended.push([reason, transaction]))
  return { session, ended }
}

function libFiles(dir = LIB): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return libFiles(path)
    return entry.name.endsWith('.ts') ? [relative(LIB, path).split('\\').join('/')] : []
  })
}

describe('Session', () => {
  it('keeps the id and takes the transport facts when opened', () => {
    const { session } = recorded()
    const id = session.info.id
    session.opened({ remoteAddress: '192.0.2.1', remotePort: 2525 })
    expect(session.info).to.include({ id, remoteAddress: '192.0.2.1', remotePort: 2525, heloVerb: null })
  })

  it('forgets the greeting, the user and the transaction when secured (RFC 3207 §4.2)', () => {
    const { session, ended } = recorded()
    session.greeted('EHLO', 'client.example')
    session.authenticated('alice')
    const transaction = session.beginTransaction(mailbox('a@example.com'), PARAMS)
    session.secured(TLS)
    expect(session.info).to.include({ heloVerb: null, heloName: null, user: null, authenticatedAt: null, tls: TLS })
    expect(session.info.secureAt).to.be.instanceOf(Date)
    expect(session.transaction).to.equal(null)
    expect(ended).to.deep.equal([['tls', transaction]])
    expect(transaction.signal.aborted).to.equal(true)
  })

  it('numbers transactions per session and counts them', () => {
    const { session } = recorded()
    const first = session.beginTransaction(null, PARAMS)
    session.endTransaction('reset')
    const second = session.beginTransaction(null, PARAMS)
    expect([first.id, second.id]).to.deep.equal([`${session.info.id}.1`, `${session.info.id}.2`])
    expect(session.info.counters.transactions).to.equal(2)
    // The serial is written in base 36: the 36th transaction is `.10`.
    let last = second
    for (let n = 3; n <= 36; n++) {
      session.endTransaction('reset')
      last = session.beginTransaction(null, PARAMS)
    }
    expect(last.id).to.equal(`${session.info.id}.10`)
  })

  it('gives a transaction the XFORWARD facts, then drops them when it ends', () => {
    const { session } = recorded()
    const forwarded = Object.freeze({ ADDR: '192.0.2.9' })
    session.forwardedFor(forwarded)
    const transaction = session.beginTransaction(null, PARAMS)
    expect(transaction.forwarded).to.equal(forwarded)
    session.endTransaction('delivered')
    expect(session.info.forwarded).to.equal(null)
    expect(transaction.signal.aborted).to.equal(false)
  })

  it('reports an end even with no transaction open (RSET, EHLO)', () => {
    const { session, ended } = recorded()
    session.endTransaction('reset')
    expect(ended).to.deep.equal([['reset', null]])
  })

  it('replaces only the facts a proxy sent, and asks for a new greeting', () => {
    const { session } = recorded()
    session.opened({ remoteAddress: '10.0.0.1', remotePort: 1000, localPort: 25 })
    session.greeted('EHLO', 'proxy.example')
    session.proxied({ remoteAddress: '192.0.2.1', user: 'bob', heloName: undefined })
    expect(session.info).to.include({ remoteAddress: '192.0.2.1', remotePort: 1000, localPort: 25, user: 'bob', heloVerb: null })
    expect(session.info.heloName).to.equal('proxy.example')
    session.proxied({ user: null })
    expect(session.info).to.include({ user: null, authenticatedAt: null })
  })

  it('keeps recipients, data and the body on the transaction, in its own enumerable fields', () => {
    const { session } = recorded()
    const transaction = session.beginTransaction(null, PARAMS)
    transaction.recipientAdded({ address: mailbox('b@example.net'), params: {} as never })
    transaction.dataStarted('DATA')
    const body = new MessageBody({ decoder: { lineEndings: 'keep', maxTextLineLength: 0, dotStuffed: true }, streaming: false, collect: true, headers: null })
    transaction.bodyStarted(body)
    transaction.received(42)
    expect(transaction.body).to.equal(body)
    expect(transaction).to.include({ via: 'DATA', size: 42 })
    // Listeners see the same own fields as before; the body is not one of them.
    expect(Object.keys(transaction)).to.include.members(['to', 'via', 'size', 'startedAt', 'id', 'from', 'mailParams', 'forwarded'])
    expect(Object.keys(transaction)).to.not.include('body')
  })

  it('is the only lib file that writes a session or transaction field', () => {
    const writes = /\b(?:session|info|transaction)\.(?!counters\b)[a-zA-Z]+\s*(?:=(?!=)|\+\+|\+=|-=)|\b(?:counters|transaction\.to)\.[a-zA-Z]*\s*(?:=(?!=)|\+\+|\+=)|\.to\.push\(/
    const offenders = libFiles()
      .filter((file) => file !== 'session.ts')
      .flatMap((file) =>
        readFileSync(join(LIB, file), 'utf8')
          .split('\n')
          .map((line, index) => ({ line, at: `${file}:${index + 1}` }))
          .filter(({ line }) => writes.test(line))
          .map(({ at, line }) => `${at}: ${line.trim()}`),
      )
    expect(offenders).to.deep.equal([])
  })
})

describe('Session.opened', () => {
  it('fills the record in place exactly as newSession() builds one for the same facts and id', () => {
    const tls = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', authorized: false } as unknown as TlsInfo
    const connectedAt = new Date(1_700_000_000_000)
    const cases = [
      {},
      { remoteAddress: '192.0.2.1', remotePort: 40000, localAddress: '198.51.100.2', localPort: 25, connectedAt },
      { remoteAddress: '192.0.2.1', clientHostname: 'client.test', connectedAt, tls },
    ]
    for (const facts of cases) {
      const session = new Session(() => undefined)
      const record = session.info
      const counters = record.counters
      session.bytesRead(12)
      session.opened(facts)
      expect(session.info).to.equal(record)
      expect(session.info.counters).to.equal(counters)
      const expected = newSession(facts, record.id)
      const { connectedAt: at, secureAt, ...rest } = session.info
      const { connectedAt: expectedAt, secureAt: expectedSecureAt, ...expectedRest } = expected
      expect(rest).to.deep.equal(expectedRest)
      expect(Object.keys(session.info)).to.deep.equal(Object.keys(expected))
      if (facts.connectedAt) expect(at).to.equal(facts.connectedAt)
      else expect(at).to.be.instanceOf(Date)
      expect(secureAt === null).to.equal(expectedSecureAt === null)
    }
  })
})
