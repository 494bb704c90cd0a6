import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as smtpwire from '../lib/index.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

describe('smtpwire (the public entry point)', () => {
  it('exports the public runtime API and nothing else', () => {
    expect(Object.keys(smtpwire).sort()).to.deep.equal([
      'CHANNELS',
      'DEFAULT_CHUNK_SIZE',
      'DEFAULT_MAX_MESSAGE_SIZE',
      'DEFAULT_MAX_QUEUED_REPLY_OCTETS',
      'ProcessingGate',
      'RECORDED_EVENTS',
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

  // An ES-module-only package: CommonJS code loads it through require(esm), which works without a
  // flag from Node 20.19 and 22.12, the floor in `engines`. A top-level await in lib/ would break it.
  // Node 22.12 alone still calls require(esm) experimental (a warning, not a failure): that one is muted.
  it('can be required by name from CommonJS code, with no other warning', () => {
    const app = mkdtempSync(join(tmpdir(), 'smtpwire-cjs-'))
    mkdirSync(join(app, 'node_modules'))
    symlinkSync(ROOT, join(app, 'node_modules', 'smtpwire'), 'dir')
    const code = "const { SmtpProtocol } = require('smtpwire'); console.log(new SmtpProtocol().options.maxQueuedReplyOctets)"
    const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '-e', code], { cwd: app, encoding: 'utf8' })
    expect([run.stderr, run.stdout, run.status]).to.deep.equal(['', '65536\n', 0])
  })
})
