import { expect } from 'chai'
import * as smtpwire from '../lib/index.js'

describe('smtpwire (the public entry point)', () => {
  it('exports the public runtime API and nothing else', () => {
    expect(Object.keys(smtpwire).sort()).to.deep.equal([
      'CHANNELS',
      'DEFAULT_CHUNK_SIZE',
      'DEFAULT_MAX_MESSAGE_SIZE',
      'REPLIES',
      'ReplySplitter',
      'SmtpDriver',
      'SmtpError',
      'SmtpProtocol',
      'SmtpReply',
      'SmtpServer',
      'SmtpwireError',
      'createSelfSignedCertificate',
      'formatReceivedHeader',
      'formatReply',
      'messageStream',
    ])
  })
})
