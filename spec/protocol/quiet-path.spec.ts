// What a session does not do for events nobody listens to: no dispatch, no payload handed around.
// Small messages pay for every object on this path (issue 15), so it is pinned here.

import { expect } from 'chai'
import sinon from 'sinon'
import { Listeners } from '../../lib/events.js'
import { startAt } from '../helpers/ladder.js'

describe('SmtpProtocol', () => {
  describe('events without listeners', () => {
    afterEach(() => sinon.restore())

    it('are not dispatched: a whole session with no listeners asks the registry nothing', async () => {
      const dispatch = sinon.spy(Listeners.prototype, 'dispatch')
      const { client } = await startAt('rcpt')
      expect(await client.data('Subject: quiet\r\n\r\nhello\r\n')).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(await client.command('RSET')).to.equal('250 2.0.0 Reset OK')
      expect(await client.command('QUIT')).to.match(/^221 /)
      expect(dispatch.callCount).to.equal(0)
    })

    it('are dispatched, with their payload, as soon as someone listens', async () => {
      const dispatch = sinon.spy(Listeners.prototype, 'dispatch')
      const seen: string[] = []
      const { client } = await startAt('rcpt', {}, (smtp) => {
        smtp.on('transaction', ({ reason, transaction }) => void seen.push(`${reason}:${transaction?.to.length}`))
        smtp.on('reset', () => void seen.push('reset'))
      })
      await client.data('Subject: heard\r\n\r\nhello\r\n')
      await client.command('MAIL FROM:<a@b.test>')
      await client.command('RSET')
      expect(seen).to.deep.equal(['helo:undefined', 'delivered:1', 'reset', 'reset:0'])
      expect(dispatch.args.map(([event]) => event)).to.deep.equal(['transaction', 'transaction', 'reset', 'transaction'])
    })
  })
})
