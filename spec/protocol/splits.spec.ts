import { expect } from 'chai'
import { checkSplits, replay } from '../helpers/conversation.js'
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

    // A few thousand cases here; `node dist/bench/splits.js --cases N` runs as many as you like.
    for (const hostile of [false, true]) {
      it(`gives the same result for 1000 random ${hostile ? 'hostile ' : ''}conversations, each cut 3 ways`, async () => {
        const seed = specSeed()
        const random = new Random(seed)
        for (let round = 0; round < 1000; round++) {
          const failure = await checkSplits(random, hostile)
          expect(failure, `seed ${seed} round ${round} (replay: SMTPWIRE_SEED=${seed})\n${failure}`).to.equal(null)
        }
      })
    }
  })
})
