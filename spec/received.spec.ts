import { expect } from 'chai'
import sinon from 'sinon'
import { addressLiteral, formatReceivedHeader, rfc5322Date, withKeyword } from '../lib/received.js'
import { newSession } from '../lib/session.js'
import type { SessionFacts, SessionState, TlsInfo, TransactionInfo } from '../lib/session-info.js'
import { mailbox } from './helpers/mailbox.js'

const TLS: TlsInfo = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', servername: null, implicit: false }
const AT = new Date(Date.UTC(2026, 10, 24, 15, 29, 0))
const AT_TEXT = 'Tue, 24 Nov 2026 15:29:00 +0000'

/** A session record from transport facts, with the fields a session gains later set. */
function session(
  fields: Partial<SessionState> = {},
  facts: SessionFacts = { remoteAddress: '192.0.2.1' },
): SessionState {
  return { ...newSession(facts), ...fields }
}

function transaction(id: string, recipients: readonly string[]): TransactionInfo {
  return {
    id,
    from: mailbox('sender@example.org'),
    mailParams: { size: null, body: null, smtpUtf8: false, ret: null, envid: null, auth: null, raw: [] },
    to: recipients.map((address) => ({ address: mailbox(address), params: { notify: null, orcpt: null, raw: [] } })),
    via: 'DATA',
    size: 0,
    startedAt: AT,
    forwarded: null,
    signal: new AbortController().signal,
  }
}

/** Header text from its lines: each ends in CRLF, continuation lines begin with a tab. */
function header(...lines: string[]): string {
  return lines.map((line, i) => `${i === 0 ? '' : '\t'}${line}\r\n`).join('')
}

describe('withKeyword', () => {
  const cases: Array<[verb: SessionState['heloVerb'], tls: boolean, user: boolean, keyword: string]> = [
    [null, false, false, 'SMTP'],
    ['HELO', false, false, 'SMTP'],
    ['HELO', true, true, 'SMTP'],
    ['EHLO', false, false, 'ESMTP'],
    ['EHLO', true, false, 'ESMTPS'],
    ['EHLO', false, true, 'ESMTPA'],
    ['EHLO', true, true, 'ESMTPSA'],
    ['LHLO', false, false, 'LMTP'],
    ['LHLO', true, false, 'LMTPS'],
    ['LHLO', false, true, 'LMTPA'],
    ['LHLO', true, true, 'LMTPSA'],
  ]
  for (const [verb, tls, user, keyword] of cases) {
    it(`is ${keyword} after ${verb ?? 'no greeting'}${tls ? ' with TLS' : ''}${user ? ' and AUTH' : ''}`, () => {
      const s = session({ heloVerb: verb, tls: tls ? TLS : null, user: user ? 'bob' : null })
      expect(withKeyword(s)).to.equal(keyword)
    })
  }
})

describe('addressLiteral', () => {
  const cases: Array<[address: string, literal: string]> = [
    ['192.0.2.1', '[192.0.2.1]'],
    ['2001:db8::1', '[IPv6:2001:db8::1]'],
    ['::1', '[IPv6:::1]'],
    ['::ffff:192.0.2.1', '[192.0.2.1]'],
    ['::FFFF:192.0.2.1', '[192.0.2.1]'],
    ['::ffff:c000:201', '[IPv6:::ffff:c000:201]'],
  ]
  for (const [address, literal] of cases) {
    it(`writes ${address} as ${literal}`, () => expect(addressLiteral(address)).to.equal(literal))
  }
})

describe('rfc5322Date', () => {
  it('writes the date in UTC with +0000', () => {
    expect(rfc5322Date(AT)).to.equal(AT_TEXT)
  })
  it('writes a one-digit day and times with leading zeros', () => {
    expect(rfc5322Date(new Date(Date.UTC(2026, 0, 5, 3, 4, 5)))).to.equal('Mon, 05 Jan 2026 03:04:05 +0000')
  })
  it('does not depend on the local time zone of the date', () => {
    expect(rfc5322Date(new Date('2026-11-24T16:29:00+01:00'))).to.equal(AT_TEXT)
  })
})

describe('formatReceivedHeader', () => {
  const full = (): SessionState =>
    session(
      { heloName: 'client.test', heloVerb: 'EHLO', tls: TLS, user: 'bob' },
      { remoteAddress: '192.0.2.1', clientHostname: 'client.example.org' },
    )

  it('names the only recipient', () => {
    expect(formatReceivedHeader(full(), transaction('s1.1', ['rcpt@example.org']), 'mx.test', AT)).to.equal(
      header(
        'Received: from client.test (client.example.org [192.0.2.1])',
        'by mx.test (smtpwire) with ESMTPSA id s1.1',
        'for <rcpt@example.org>;',
        AT_TEXT,
      ),
    )
  })

  it('names a quoted recipient as sent', () => {
    const text = formatReceivedHeader(full(), transaction('s1.1', ['"a b"@example.org']), 'mx.test', AT)
    expect(text).to.include('\r\n\tfor <"a b"@example.org>;\r\n')
  })

  for (const recipients of [['a@example.org', 'b@example.org'], ['a@x.test', 'b@x.test', 'c@x.test'], []]) {
    it(`names no recipient when there are ${recipients.length}`, () => {
      expect(formatReceivedHeader(full(), transaction('s1.2', recipients), 'mx.test', AT)).to.equal(
        header(
          'Received: from client.test (client.example.org [192.0.2.1])',
          'by mx.test (smtpwire) with ESMTPSA id s1.2;',
          AT_TEXT,
        ),
      )
    })
  }

  it('writes unknown for a missing reverse-DNS name', () => {
    const s = session({ heloName: 'client.test', heloVerb: 'HELO' }, { remoteAddress: '192.0.2.1' })
    expect(formatReceivedHeader(s, transaction('s2.1', ['r@x.test']), 'mx.test', AT)).to.equal(
      header(
        'Received: from client.test (unknown [192.0.2.1])',
        'by mx.test (smtpwire) with SMTP id s2.1',
        'for <r@x.test>;',
        AT_TEXT,
      ),
    )
  })

  it('writes an IPv6 client as an IPv6 literal and an IPv4-mapped one as IPv4', () => {
    const v6 = session({ heloName: 'c.test', heloVerb: 'LHLO' }, { remoteAddress: '2001:db8::25' })
    const mapped = session({ heloName: 'c.test', heloVerb: 'LHLO' }, { remoteAddress: '::ffff:192.0.2.7' })
    const t = transaction('s3.1', [])
    const firstLine = (s: SessionState) => formatReceivedHeader(s, t, 'mx.test', AT).split('\r\n')[0]
    expect(firstLine(v6)).to.equal('Received: from c.test (unknown [IPv6:2001:db8::25])')
    expect(firstLine(mapped)).to.equal('Received: from c.test (unknown [192.0.2.7])')
  })

  it('writes unknown for a missing HELO name and remote address', () => {
    const s = session({}, {})
    expect(formatReceivedHeader(s, transaction('s4.1', []), 'mx.test', AT)).to.equal(
      header('Received: from unknown (unknown [unknown])', 'by mx.test (smtpwire) with SMTP id s4.1;', AT_TEXT),
    )
  })

  it('replaces control characters, spaces and DEL in the HELO and host names', () => {
    const s = session(
      { heloName: 'evil\r\nX-Spam: no\t\x7f\0', heloVerb: 'EHLO' },
      { remoteAddress: '192.0.2.1', clientHostname: 'host\r\nname' },
    )
    const text = formatReceivedHeader(s, transaction('s5.1', []), 'mx.test', AT)
    expect(text).to.equal(
      header(
        'Received: from evil??X-Spam:?no??? (host??name [192.0.2.1])',
        'by mx.test (smtpwire) with ESMTP id s5.1;',
        AT_TEXT,
      ),
    )
    expect(text.split('\r\n')).to.have.length(4)
  })

  it('keeps UTF-8 in the HELO name', () => {
    const s = session({ heloName: 'bücher.test', heloVerb: 'EHLO' })
    expect(formatReceivedHeader(s, transaction('s6.1', []), 'mx.test', AT)).to.match(/^Received: from bücher\.test \(/)
  })

  it('uses the current time when none is given', () => {
    const clock = sinon.useFakeTimers({ now: AT, toFake: ['Date'] })
    try {
      const text = formatReceivedHeader(full(), transaction('s7.1', []), 'mx.test')
      expect(text.endsWith(`\t${AT_TEXT}\r\n`)).to.equal(true)
    } finally {
      clock.restore()
    }
  })
})
