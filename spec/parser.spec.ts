import { expect } from 'chai'
import type { Mailbox } from '../lib/address.js'
import { isFault, parseCommand, parseParams, type Command, type Fault, type RawParams } from '../lib/parser.js'
import type { ReplyKey } from '../lib/replies.js'
import { Random, specSeed } from './helpers/random.js'

function box(address: string, localPart: string, domain: string, isUtf8 = false): Mailbox {
  return { address, localPart, domain, isUtf8 }
}

function plain(localPart: string, domain: string, isUtf8 = false): Mailbox {
  return box(`${localPart}@${domain}`, localPart, domain, isUtf8)
}

function fault(verb: string | null, reply: ReplyKey): Fault {
  return { verb, fault: reply }
}

const AB = plain('a', 'b.test')
const CD = plain('c', 'd.test')

type Case = [line: string, expected: Command | Fault]

const cases: Record<string, Case[]> = {
  'HELO, EHLO and LHLO': [
    ['HELO client.test', { verb: 'HELO', domain: 'client.test' }],
    ['EHLO client.test', { verb: 'EHLO', domain: 'client.test' }],
    ['LHLO client.test', { verb: 'LHLO', domain: 'client.test' }],
    ['ehlo client.test', { verb: 'EHLO', domain: 'client.test' }],
    ['LhLo client.test', { verb: 'LHLO', domain: 'client.test' }],
    ['EHLO [192.0.2.1]', { verb: 'EHLO', domain: '[192.0.2.1]' }],
    ['EHLO client.test   ', { verb: 'EHLO', domain: 'client.test' }],
    ['EHLO', fault('EHLO', 'badHelo')],
    ['HELO ', fault('HELO', 'badHelo')],
    ['LHLO', fault('LHLO', 'badHelo')],
    ['HELO a b', fault('HELO', 'badHelo')],
    ['EHLO  client.test', fault('EHLO', 'badHelo')],
  ],
  MAIL: [
    ['MAIL FROM:<a@b.test>', { verb: 'MAIL', from: AB, params: [] }],
    ['mail from:<a@b.test>', { verb: 'MAIL', from: AB, params: [] }],
    ['MaIl FrOm:<a@b.test>', { verb: 'MAIL', from: AB, params: [] }],
    ['MAIL FROM:<>', { verb: 'MAIL', from: null, params: [] }],
    ['MAIL FROM: <a@b.test>', { verb: 'MAIL', from: AB, params: [] }],
    ['MAIL FROM:  <>', { verb: 'MAIL', from: null, params: [] }],
    [
      'MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME SMTPUTF8',
      { verb: 'MAIL', from: AB, params: [['SIZE', '100'], ['BODY', '8BITMIME'], ['SMTPUTF8', null]] },
    ],
    [
      'MAIL FROM:<a@b.test> size=100 body=8bitmime',
      { verb: 'MAIL', from: AB, params: [['SIZE', '100'], ['BODY', '8bitmime']] },
    ],
    ['MAIL FROM:<a@b.test>  SIZE=1   RET=HDRS ', { verb: 'MAIL', from: AB, params: [['SIZE', '1'], ['RET', 'HDRS']] }],
    ['MAIL FROM:<> ENVID=QQ+2B1', { verb: 'MAIL', from: null, params: [['ENVID', 'QQ+2B1']] }],
    [
      'MAIL FROM:<jörg@bücher.test> SMTPUTF8',
      { verb: 'MAIL', from: plain('jörg', 'bücher.test', true), params: [['SMTPUTF8', null]] },
    ],
    [
      'MAIL FROM:<"a b"@[192.0.2.1]>',
      { verb: 'MAIL', from: box('"a b"@[192.0.2.1]', 'a b', '[192.0.2.1]'), params: [] },
    ],
    ['MAIL FROM:<@relay.test:a@b.test>', { verb: 'MAIL', from: AB, params: [] }],
    ['MAIL', fault('MAIL', 'syntaxError')],
    ['MAIL <a@b.test>', fault('MAIL', 'syntaxError')],
    ['MAIL TO:<a@b.test>', fault('MAIL', 'syntaxError')],
    ['MAIL FROM <a@b.test>', fault('MAIL', 'syntaxError')],
    ['MAIL FROM:', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:a@b.test', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<a@b.test', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<a@b.test>>', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<a@b.test>SIZE=1', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<a@b.test>\tSIZE=1', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<Postmaster>', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<>x', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<> SIZE=1', { verb: 'MAIL', from: null, params: [['SIZE', '1']] }],
    ['MAIL FROM:<a..b@b.test>', fault('MAIL', 'badSenderSyntax')],
    ['MAIL FROM:<a@b.test> =x', fault('MAIL', 'syntaxError')],
    ['MAIL FROM:<a@b.test> SIZE=', fault('MAIL', 'syntaxError')],
    ['MAIL FROM:<a@b.test> A=b=c', fault('MAIL', 'syntaxError')],
  ],
  RCPT: [
    ['RCPT TO:<c@d.test>', { verb: 'RCPT', to: CD, params: [] }],
    ['rcpt to:<c@d.test>', { verb: 'RCPT', to: CD, params: [] }],
    ['RCPT TO: <c@d.test>', { verb: 'RCPT', to: CD, params: [] }],
    [
      'RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d.test',
      { verb: 'RCPT', to: CD, params: [['NOTIFY', 'SUCCESS,FAILURE'], ['ORCPT', 'rfc822;c+40d.test']] },
    ],
    ['RCPT TO:<c@d.test> X-FLAG', { verb: 'RCPT', to: CD, params: [['X-FLAG', null]] }],
    [
      'RCPT TO:<c@d.test> ORCPT=utf-8;jörg@bücher.test',
      { verb: 'RCPT', to: CD, params: [['ORCPT', 'utf-8;jörg@bücher.test']] },
    ],
    ['RCPT TO:<Postmaster>', { verb: 'RCPT', to: box('Postmaster', 'Postmaster', ''), params: [] }],
    [
      'RCPT TO:<postmaster> NOTIFY=NEVER',
      { verb: 'RCPT', to: box('postmaster', 'postmaster', ''), params: [['NOTIFY', 'NEVER']] },
    ],
    ['RCPT TO:<x@[IPv6:2001:db8::1]>', { verb: 'RCPT', to: plain('x', '[IPv6:2001:db8::1]'), params: [] }],
    ['RCPT TO:<>', fault('RCPT', 'nullRecipient')],
    ['RCPT TO: <>', fault('RCPT', 'nullRecipient')],
    ['RCPT TO:<c>', fault('RCPT', 'badRecipientSyntax')],
    ['RCPT TO:c@d.test', fault('RCPT', 'badRecipientSyntax')],
    ['RCPT TO:<c@d.test>x', fault('RCPT', 'badRecipientSyntax')],
    ['RCPT TO:<Postmaster>x', fault('RCPT', 'badRecipientSyntax')],
    ['RCPT TO:<"c d"@e.test>  NOTIFY=NEVER', { verb: 'RCPT', to: box('"c d"@e.test', 'c d', 'e.test'), params: [['NOTIFY', 'NEVER']] }],
    ['RCPT TO:<c@[300.1.1.1]>', fault('RCPT', 'badRecipientSyntax')],
    ['RCPT TO:', fault('RCPT', 'badRecipientSyntax')],
    ['RCPT', fault('RCPT', 'syntaxError')],
    ['RCPT FROM:<c@d.test>', fault('RCPT', 'syntaxError')],
    ['RCPT TO:<c@d.test> NOTIFY=', fault('RCPT', 'syntaxError')],
  ],
  BDAT: [
    ['BDAT 0', { verb: 'BDAT', size: 0, last: false }],
    ['BDAT 1000', { verb: 'BDAT', size: 1000, last: false }],
    ['BDAT 1000 LAST', { verb: 'BDAT', size: 1000, last: true }],
    ['bdat 5 last', { verb: 'BDAT', size: 5, last: true }],
    ['BDAT 5 LaSt', { verb: 'BDAT', size: 5, last: true }],
    ['BDAT 5   LAST  ', { verb: 'BDAT', size: 5, last: true }],
    ['BDAT 007', { verb: 'BDAT', size: 7, last: false }],
    ['BDAT 999999999999999', { verb: 'BDAT', size: 999999999999999, last: false }],
    ['BDAT', fault('BDAT', 'syntaxError')],
    ['BDAT x', fault('BDAT', 'syntaxError')],
    ['BDAT -1', fault('BDAT', 'syntaxError')],
    ['BDAT +1', fault('BDAT', 'syntaxError')],
    ['BDAT 1.5', fault('BDAT', 'syntaxError')],
    ['BDAT 1e3', fault('BDAT', 'syntaxError')],
    ['BDAT 1234567890123456', fault('BDAT', 'syntaxError')],
    ['BDAT LAST', fault('BDAT', 'syntaxError')],
    ['BDAT 1 LAST x', fault('BDAT', 'syntaxError')],
    ['BDAT 1 LAST LAST', fault('BDAT', 'syntaxError')],
    ['BDAT 1 2', fault('BDAT', 'syntaxError')],
    ['BDAT 1 FIRST', fault('BDAT', 'syntaxError')],
    ['BDAT 1LAST', fault('BDAT', 'syntaxError')],
    ['BDAT  1', fault('BDAT', 'syntaxError')],
  ],
  'DATA, RSET, QUIT and STARTTLS': [
    ['DATA', { verb: 'DATA' }],
    ['data', { verb: 'DATA' }],
    ['RSET', { verb: 'RSET' }],
    ['RSET   ', { verb: 'RSET' }],
    ['QUIT', { verb: 'QUIT' }],
    ['STARTTLS', { verb: 'STARTTLS' }],
    ['StartTls', { verb: 'STARTTLS' }],
    ['DATA x', fault('DATA', 'syntaxError')],
    ['RSET now', fault('RSET', 'syntaxError')],
    ['QUIT please', fault('QUIT', 'syntaxError')],
    ['STARTTLS x', fault('STARTTLS', 'syntaxError')],
  ],
  'NOOP and HELP': [
    ['NOOP', { verb: 'NOOP', argument: '' }],
    ['NOOP hello world', { verb: 'NOOP', argument: 'hello world' }],
    ['noop x  ', { verb: 'NOOP', argument: 'x' }],
    ['NOOP a\tb', { verb: 'NOOP', argument: 'a\tb' }],
    ['HELP', { verb: 'HELP', argument: '' }],
    ['help MAIL', { verb: 'HELP', argument: 'MAIL' }],
  ],
  'VRFY and EXPN': [
    ['VRFY bob', { verb: 'VRFY', argument: 'bob' }],
    ['vrfy <bob@x.test>', { verb: 'VRFY', argument: '<bob@x.test>' }],
    ['EXPN staff list', { verb: 'EXPN', argument: 'staff list' }],
    ['VRFY', fault('VRFY', 'syntaxError')],
    ['VRFY   ', fault('VRFY', 'syntaxError')],
    ['EXPN', fault('EXPN', 'syntaxError')],
  ],
  AUTH: [
    ['AUTH PLAIN', { verb: 'AUTH', mechanism: 'PLAIN', initialResponse: null }],
    ['auth login', { verb: 'AUTH', mechanism: 'LOGIN', initialResponse: null }],
    ['AUTH PLAIN dGVzdA==', { verb: 'AUTH', mechanism: 'PLAIN', initialResponse: 'dGVzdA==' }],
    ['AUTH PLAIN =', { verb: 'AUTH', mechanism: 'PLAIN', initialResponse: '=' }],
    ['AUTH PLAIN   abc', { verb: 'AUTH', mechanism: 'PLAIN', initialResponse: 'abc' }],
    ['AUTH cram-md5', { verb: 'AUTH', mechanism: 'CRAM-MD5', initialResponse: null }],
    ['AUTH x_oauth2-1', { verb: 'AUTH', mechanism: 'X_OAUTH2-1', initialResponse: null }],
    [`AUTH ${'m'.repeat(20)}`, { verb: 'AUTH', mechanism: 'M'.repeat(20), initialResponse: null }],
    ['AUTH', fault('AUTH', 'syntaxError')],
    ['AUTH PL@IN', fault('AUTH', 'syntaxError')],
    ['AUTH PLAIN a b', fault('AUTH', 'syntaxError')],
    [`AUTH ${'M'.repeat(21)}`, fault('AUTH', 'syntaxError')],
  ],
  'XCLIENT and XFORWARD': [
    [
      'XCLIENT NAME=client.test ADDR=192.0.2.1',
      { verb: 'XCLIENT', attributes: [['NAME', 'client.test'], ['ADDR', '192.0.2.1']] },
    ],
    [
      'xforward name=[UNAVAILABLE] proto=ESMTP',
      { verb: 'XFORWARD', attributes: [['NAME', '[UNAVAILABLE]'], ['PROTO', 'ESMTP']] },
    ],
    ['XCLIENT', fault('XCLIENT', 'syntaxError')],
    ['XFORWARD   ', fault('XFORWARD', 'syntaxError')],
    ['XCLIENT =x', fault('XCLIENT', 'syntaxError')],
    ['XFORWARD NAME=', fault('XFORWARD', 'syntaxError')],
  ],
  'unknown commands': [
    ['', fault(null, 'unknownCommand')],
    [' NOOP', fault(null, 'unknownCommand')],
    ['FOO bar', fault('FOO', 'unknownCommand')],
    ['foo', fault('FOO', 'unknownCommand')],
    ['TURN', fault('TURN', 'unknownCommand')],
    ['A'.repeat(16), fault('A'.repeat(16), 'unknownCommand')],
    ['A'.repeat(17), fault(null, 'unknownCommand')],
    ['MA1L FROM:<a@b.test>', fault(null, 'unknownCommand')],
    ['MAIL:FROM:<a@b.test>', fault(null, 'unknownCommand')],
    ['NÖOP', fault(null, 'unknownCommand')],
    ['NOOP\0', fault(null, 'unknownCommand')],
  ],
}

describe('parseCommand', () => {
  for (const [group, table] of Object.entries(cases)) {
    describe(group, () => {
      for (const [line, expected] of table) {
        it(`reads ${JSON.stringify(line)}`, () => {
          expect(parseCommand(line)).to.deep.equal(expected)
        })
      }
    })
  }

  it('reads every verb the same in any case', () => {
    const lines = [
      'HELO c.test',
      'EHLO c.test',
      'LHLO c.test',
      'MAIL FROM:<a@b.test> SIZE=1',
      'RCPT TO:<c@d.test>',
      'BDAT 1 LAST',
      'DATA',
      'RSET',
      'QUIT',
      'STARTTLS',
      'NOOP x',
      'HELP x',
      'VRFY x',
      'EXPN x',
      'AUTH PLAIN',
      'XCLIENT NAME=x',
      'XFORWARD NAME=x',
    ]
    for (const line of lines) {
      const space = line.indexOf(' ')
      const verb = space < 0 ? line : line.slice(0, space)
      const rest = space < 0 ? '' : line.slice(space)
      const alternating = [...verb].map((c, i) => (i % 2 === 0 ? c.toLowerCase() : c)).join('')
      const expected = parseCommand(line)
      expect(isFault(expected), line).to.equal(false)
      expect(parseCommand(`${verb.toLowerCase()}${rest}`), line).to.deep.equal(expected)
      expect(parseCommand(`${alternating}${rest}`), line).to.deep.equal(expected)
    }
  })

  it('refuses every control character but tab in the arguments', () => {
    for (let code = 0; code < 128; code++) {
      if (code >= 0x20 && code !== 0x7f) continue
      const c = String.fromCharCode(code)
      const expected = code === 0x09 ? { verb: 'NOOP', argument: `a${c}b` } : fault('NOOP', 'syntaxError')
      expect(parseCommand(`NOOP a${c}b`), `code ${code}`).to.deep.equal(expected)
    }
  })

  it('checks control characters before the arguments of any verb', () => {
    const lines: Array<[string, string]> = [
      ['MAIL', 'MAIL FROM:<a@b.test>\0'],
      ['RCPT', 'RCPT TO:<c@d.test>\r'],
      ['HELO', 'HELO a\rb'],
      ['VRFY', 'VRFY \x7f'],
      ['AUTH', 'AUTH PLAIN \n'],
      ['DATA', 'DATA \x1b'],
    ]
    for (const [verb, line] of lines) {
      expect(parseCommand(line), JSON.stringify(line)).to.deep.equal(fault(verb, 'syntaxError'))
    }
  })

  it('reads MAIL and RCPT in place as it reads their argument alone: trailing spaces change nothing', () => {
    const seed = specSeed()
    const random = new Random(seed)
    const verbs = ['MAIL', 'RCPT', 'mail', 'Rcpt', 'DATA', 'RSET', 'HELO', 'NOOP', 'VRFY', 'BDAT']
    const bits = ['FROM:', 'TO:', 'from:', 'FRO', ':', '<', '>', '<>', '<a@b>', '<"x y"@z>', '<"a  "@b>', '<Postmaster>', '<@r:a@b>', ' ', '  ', '\t', '\x01', 'SIZE=10', 'x', '"', 'é', '<a@[1.2.3.4]>', 'LAST', '100']
    for (let round = 0; round < 5000; round++) {
      let line = random.pick(verbs) + (random.int(4) === 0 ? '' : ' ')
      for (let i = random.int(6); i > 0; i--) line += random.pick(bits)
      const trimmed = line.replace(/ +$/, '')
      const padded = trimmed + ' '.repeat(1 + random.int(3))
      expect(parseCommand(padded), `seed ${seed}: ${JSON.stringify(padded)}`).to.deep.equal(parseCommand(trimmed))
    }
  })
})

describe('parseParams', () => {
  const valid: Array<[text: string, params: RawParams]> = [
    ['', []],
    ['   ', []],
    ['A', [['A', null]]],
    ['size=10 Body=8bitmime', [['SIZE', '10'], ['BODY', '8bitmime']]],
    ['A=1  B', [['A', '1'], ['B', null]]],
    [' A=1 ', [['A', '1']]],
    ['X-Y=ü', [['X-Y', 'ü']]],
    ['A=😀', [['A', '😀']]],
    ['1A-=x', [['1A-', 'x']]],
    ['A=!~<>', [['A', '!~<>']]],
  ]
  for (const [text, params] of valid) {
    it(`reads ${JSON.stringify(text)}`, () => expect(parseParams(text)).to.deep.equal(params))
  }

  const invalid = ['=1', 'A=', 'A==1', 'A=b=c', '-A=1', 'A_B=1', 'Ä=1', 'A=\x7f', 'A=b\0', 'A=\x1f', 'A B=']
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => expect(parseParams(text)).to.equal(null))
  }
})

describe('isFault', () => {
  it('is true for a fault', () => {
    expect(isFault(parseCommand('FOO'))).to.equal(true)
    expect(isFault(parseCommand('MAIL FROM:a'))).to.equal(true)
  })
  it('is false for a command', () => {
    expect(isFault(parseCommand('DATA'))).to.equal(false)
    expect(isFault(parseCommand('MAIL FROM:<>'))).to.equal(false)
  })
})
