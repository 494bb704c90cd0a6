import { expect } from 'chai'
import { randomConversation, replay } from '../helpers/conversation.js'
import { Random, specSeed } from '../helpers/random.js'
import { crlf } from '../helpers/transcript.js'

// Property: however the client's bytes are cut into reads, the server gives the same replies,
// the same message bytes and the same events.
describe('SmtpProtocol', () => {
  describe('chunk-split invariance', () => {
    it('gives the same result for a DATA session cut at every offset', async () => {
      const session = Buffer.from(
        crlf('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA') +
          crlf('Subject: dots', '', '..leading', '...', '.x', 'last', '.') +
          crlf('MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>', 'DATA', '.', 'QUIT'),
      )
      const whole = await replay([session])
      expect(whole.messages).to.deep.equal([crlf('Subject: dots', '', '.leading', '..', 'x', 'last'), ''])
      for (let k = 1; k < session.length; k++) {
        const split = await replay([session.subarray(0, k), session.subarray(k)])
        expect(split, `split at ${k}`).to.deep.equal(whole)
      }
    })

    it('gives the same result for a BDAT session cut at every offset', async () => {
      const session = Buffer.from(
        crlf('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<x@mx.test>') +
          'BDAT 7\r\nab\r\n.\r\nBDAT 4 LAST\r\nQUIT' +
          crlf('', 'NOOP', 'QUIT'),
      )
      const whole = await replay([session])
      expect(whole.messages).to.deep.equal(['ab\r\n.\r\nQUIT'])
      for (let k = 1; k < session.length; k++) {
        const split = await replay([session.subarray(0, k), session.subarray(k)])
        expect(split, `split at ${k}`).to.deep.equal(whole)
      }
    })

    for (const hostile of [false, true]) {
      it(`gives the same result for random ${hostile ? 'hostile ' : ''}conversations cut at random points`, async () => {
        const seed = specSeed()
        const random = new Random(seed)
        for (let round = 0; round < 300; round++) {
          const session = randomConversation(random, hostile)
          const whole = await replay([session])
          for (let cut = 0; cut < 3; cut++) {
            const pieces = random.split(session, 20)
            const split = await replay(pieces)
            const context = `seed ${seed} round ${round} (replay: SMTPWIRE_SEED=${seed}) cuts ${pieces.map((p) => p.length).join(',')}\n${JSON.stringify(session.toString('latin1'))}`
            expect(split, context).to.deep.equal(whole)
          }
        }
      })
    }
  })
})
