// The command lines of the cluster and WebSocket bridge samples: --help lists every flag and
// exits 0; an unknown flag or a bad value is one clear line on stderr and exit code 2, no stack.

import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { helpText, integerFlag, parseFlags, UsageError } from '../../samples/command-line.js'

const SAMPLES = {
  cluster: {
    file: fileURLToPath(new URL('../../samples/cluster.js', import.meta.url)),
    flags: ['--workers', '--port', '--host', '--maildir', '--domain', '--help'],
  },
  'websocket-bridge': {
    file: fileURLToPath(new URL('../../samples/websocket-bridge.js', import.meta.url)),
    flags: ['--port', '--host', '--maildir', '--domain', '--help'],
  },
} as const

/** Runs a sample to its exit; its output and exit code. */
function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args])
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (text: Buffer) => (stdout += text.toString()))
    child.stderr.on('data', (text: Buffer) => (stderr += text.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('samples command lines', function () {
  this.timeout(30000)

  for (const [name, sample] of Object.entries(SAMPLES)) {
    describe(name, () => {
      it('lists every flag on --help and exits 0', async () => {
        const { code, stdout, stderr } = await run(sample.file, ['--help'])
        expect([code, stderr]).to.deep.equal([0, ''])
        expect(stdout).to.match(new RegExp(`^Usage: node dist/samples/${name}\\.js \\[flags\\]\\n`))
        expect(stdout.match(/^ {2}--[a-z-]+/gm)?.map((flag) => flag.trim())).to.deep.equal(sample.flags)
      })

      it('refuses an unknown flag with one line on stderr and exit code 2', async () => {
        const { code, stdout, stderr } = await run(sample.file, ['--bogus', '1'])
        expect([code, stdout, stderr]).to.deep.equal([2, '', `${name}: unknown flag --bogus (--help lists the flags)\n`])
      })

      it('refuses a port out of range with exit code 2', async () => {
        const { code, stderr } = await run(sample.file, ['--port', '65536'])
        expect([code, stderr]).to.deep.equal([2, `${name}: --port must be 0 to 65535, got 65536 (--help lists the flags)\n`])
      })

      it('refuses a flag without its value with exit code 2', async () => {
        const { code, stderr } = await run(sample.file, ['--port'])
        expect(code).to.equal(2)
        expect(stderr).to.match(new RegExp(`^${name}: .*--port.*\\(--help lists the flags\\)\\n$`))
      })
    })
  }

  describe('parseFlags', () => {
    const FLAGS = {
      port: { type: 'string', default: '25', help: 'port' },
      name: { type: 'string', help: 'a name' },
      verbose: { type: 'boolean', default: false, help: 'talk more' },
    } as const

    it('fills in defaults and reads --flag value, --flag=value and booleans', () => {
      expect(parseFlags(FLAGS, [])).to.deep.equal({ port: '25', verbose: false, help: false })
      expect(parseFlags(FLAGS, ['--port=0', '--name', 'x', '--verbose'])).to.deep.equal({ port: '0', name: 'x', verbose: true, help: false })
    })

    it('throws a UsageError for an unknown flag, a short flag and a stray argument', () => {
      expect(() => parseFlags(FLAGS, ['--nope=1'])).to.throw(UsageError, 'unknown flag --nope')
      expect(() => parseFlags(FLAGS, ['-p', '1'])).to.throw(UsageError, 'unknown flag -p')
      expect(() => parseFlags(FLAGS, ['extra'])).to.throw(UsageError, 'unexpected argument extra')
      expect(() => parseFlags(FLAGS, ['--verbose=yes'])).to.throw(UsageError)
    })

    it('writes one help line per flag with its default', () => {
      expect(helpText('prog [flags]', 'Does things.', FLAGS)).to.equal(
        [
          'Usage: prog [flags]',
          '',
          'Does things.',
          '',
          '  --port <port>            port (default 25)',
          '  --name <name>            a name',
          '  --verbose                talk more',
          '  --help                   show this help and exit',
          '',
        ].join('\n'),
      )
    })

    it('takes whole numbers within bounds only', () => {
      expect(integerFlag('port', '0', 0, 65535)).to.equal(0)
      for (const bad of ['', ' ', '-1', '1.5', '0x10', 'abc', '65536']) {
        expect(() => integerFlag('port', bad, 0, 65535), bad).to.throw(UsageError, `--port must be 0 to 65535, got ${bad}`)
      }
    })
  })
})
