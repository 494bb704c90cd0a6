// Random SMTP conversations (valid and invalid) for property tests and the fuzz script, and a
// runner that replays one through an in-memory protocol and records everything observable.

import { SmtpDriver } from '../../lib/driver.js'
import type { SmtpOptions } from '../../lib/options.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import type { Random } from './random.js'

const BODY_TOKENS = ['text', ' ', '.', '..', '\r\n', '\r\n.', '\r\n..', 'Subject: x\r\n', '\r\n\r\n', 'é', '\t', 'x'.repeat(70)]
const HOSTILE_TOKENS = ['\n', '\r', '\n.\n', '\r\n.\n', '\n.\r\n', '\0', '\xff']
const JUNK_COMMANDS = ['FOO', 'MAIL', 'MAIL FROM:<bad', 'RCPT TO:<>', 'DATA extra', 'BDAT x', 'VRFY', 'EXPN x', 'HELP', 'NOOP x', 'RSET', 'HELO', '', 'é', 'AUTH PLAIN', 'STARTTLS']

function body(random: Random, hostile: boolean): string {
  let text = ''
  const count = random.int(12)
  for (let i = 0; i < count; i++) {
    text += hostile && random.int(6) === 0 ? random.pick(HOSTILE_TOKENS) : random.pick(BODY_TOKENS)
  }
  return text
}

function dotStuff(text: string): string {
  return text.replace(/(^|\r\n)\./g, '$1..')
}

/**
 * A random session as the client would write it, ending in QUIT. With `hostile`, bodies carry
 * bare CR/LF, NUL and 8-bit bytes, and lines may run past the limits.
 */
export function randomConversation(random: Random, hostile = false): Buffer {
  const parts: Buffer[] = [Buffer.from(random.int(5) === 0 ? 'HELO client.test\r\n' : 'EHLO client.test\r\n')]
  const add = (text: string): void => void parts.push(Buffer.from(text, 'latin1'))
  const steps = 1 + random.int(6)
  for (let step = 0; step < steps; step++) {
    const kind = random.int(10)
    if (kind < 4) {
      // a DATA transaction, sometimes with an extra recipient or a refused one
      add('MAIL FROM:<sender@client.test>\r\n')
      for (let r = random.int(3); r >= 0; r--) add(`RCPT TO:<${random.pick(['a', 'b', 'refuse', 'slow'])}@mx.test>\r\n`)
      add('DATA\r\n')
      let text = body(random, hostile)
      if (!text.endsWith('\r\n') && text !== '') text += '\r\n'
      add(`${dotStuff(text)}.\r\n`)
    } else if (kind < 6) {
      // a BDAT transaction in one to three chunks
      add('MAIL FROM:<sender@client.test>\r\n')
      add('RCPT TO:<a@mx.test>\r\n')
      const chunks = 1 + random.int(3)
      for (let c = 0; c < chunks; c++) {
        const chunk = Buffer.from(body(random, hostile), 'latin1')
        add(`BDAT ${chunk.length}${c === chunks - 1 ? ' LAST' : ''}\r\n`)
        parts.push(chunk)
      }
    } else if (kind < 8) {
      add(`${random.pick(JUNK_COMMANDS)}\r\n`)
    } else if (kind < 9) {
      add(hostile ? `NOOP ${'y'.repeat(random.int(2000))}\r\n` : 'NOOP\r\n')
    } else {
      add(random.pick(['RSET\r\n', 'EHLO again.test\r\n', 'VRFY someone\r\n']))
    }
  }
  add('QUIT\r\n')
  return Buffer.concat(parts)
}

/** What a replayed conversation produced. */
export interface Observed {
  transcript: string
  messages: string[]
  events: string[]
  ended: boolean
}

/** Listeners that make verdicts depend on the input, some of them asynchronous. */
function listen(smtp: SmtpProtocol, observed: Observed): void {
  const chunks: Buffer[] = []
  smtp.on('recipient', ({ address }) => {
    observed.events.push(`rcpt ${address.localPart}`)
    if (address.localPart === 'refuse') return false
    if (address.localPart === 'slow') return Promise.resolve(true)
    return true
  })
  smtp.on('dataChunk', async ({ chunk }) => {
    chunks.push(chunk)
  })
  smtp.on('message', ({ transaction }) => {
    observed.messages.push(Buffer.concat(chunks.splice(0)).toString('latin1'))
    observed.events.push(`message ${transaction.size}`)
    return Promise.resolve(true)
  })
  smtp.on('transaction', ({ reason }) => {
    chunks.length = 0
    observed.events.push(`transaction ${reason}`)
  })
  smtp.on('close', ({ reason, aborted }) => void observed.events.push(`close ${reason} ${aborted}`))
  smtp.on('error', ({ error }) => void observed.events.push(`error ${error.message}`))
}

/** Replays `pieces` (written one after another) through a fresh protocol. */
export async function replay(pieces: readonly Buffer[], options: SmtpOptions = {}): Promise<Observed> {
  const smtp = new SmtpProtocol({ domain: 'mx.test', chunkSize: 8, ...options })
  const observed: Observed = { transcript: '', messages: [], events: [], ended: false }
  listen(smtp, observed)
  const client = new SmtpDriver(smtp)
  await client.connect()
  for (const piece of pieces) client.write(piece)
  await client.settle()
  await client.end()
  observed.transcript = client.transcript
  observed.ended = client.ended
  return observed
}

/**
 * One property case: a random conversation replayed whole and cut at random points `cuts` times.
 * Returns null when every replay matched, else a description with the input to replay it.
 */
export async function checkSplits(random: Random, hostile: boolean, cuts = 3): Promise<string | null> {
  const session = randomConversation(random, hostile)
  const whole = await replay([session])
  for (let cut = 0; cut < cuts; cut++) {
    const pieces = random.split(session, 20)
    const split = await replay(pieces)
    if (JSON.stringify(split) !== JSON.stringify(whole)) {
      return `cuts ${pieces.map((p) => p.length).join(',')}\ninput ${JSON.stringify(session.toString('latin1'))}\nwhole ${JSON.stringify(whole)}\nsplit ${JSON.stringify(split)}`
    }
  }
  return null
}
