// Issue #11, "Also": a client still sending a message when closeTimeout cuts it off at shutdown gets
// `421 4.3.2` before the close, while its socket still takes writes; the message is never acknowledged.

import { expect } from 'chai'
import { SmtpServer } from '../../lib/server.js'
import { deferred } from '../helpers/ladder.js'
import { SocketClient } from '../helpers/socket-client.js'

describe('hostile: shutdown with a client in the middle of DATA (issue #11)', () => {
  it('answers 421 4.3.2 when closeTimeout cuts the message off, and never acknowledges it', async () => {
    const inData = deferred<void>()
    const events: string[] = []
    const server = new SmtpServer({ domain: 'mx.test', closeTimeout: 50, lingerTimeout: 600_000, chunkSize: 1024 }, (smtp) => {
      smtp.on('dataChunk', () => inData.resolve())
      smtp.on('message', () => void events.push('message'))
      smtp.on('close', ({ reason, aborted }) => void events.push(`close:${reason}:${aborted}`))
    })
    const { port } = await server.listen(0, '127.0.0.1')
    const client = await SocketClient.connect(port)
    await client.read()
    client.write('EHLO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA')
    expect((await client.read(4)).slice(1)).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK', '354 End data with <CR><LF>.<CR><LF>'])
    client.write('Subject: unfinished', '', ...Array<string>(100).fill('x'.repeat(70))) // more than chunkSize: dataChunk fires
    await inData.promise
    const closed = server.close()
    expect(await client.read()).to.deep.equal(['421 4.3.2 Service shutting down, closing connection'])
    client.socket.end() // the client closes its side on the 421, as it should: close() then resolves
    await closed
    expect(events).to.deep.equal(['close:shutdown:true'])
  })
})
