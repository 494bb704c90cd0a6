// The chunk-split invariance property at scale: random (and hostile) conversations replayed whole
// and cut at random points must give byte-identical replies, message bytes and events.
// Run: npm run build && node dist/bench/splits.js [--cases 100000] [--seed N]

import { parseArgs } from 'node:util'
import { checkSplits } from '../spec/helpers/conversation.js'
import { Random } from '../spec/helpers/random.js'

const { values } = parseArgs({ options: { cases: { type: 'string', default: '100000' }, seed: { type: 'string' } }, strict: true })
const cases = Number(values.cases)
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed)
const random = new Random(seed)
const started = Date.now()
let failures = 0
for (let n = 0; n < cases; n++) {
  const failure = await checkSplits(random, n % 2 === 1)
  if (failure) {
    failures++
    console.log(`FAIL seed ${seed} case ${n} (replay with --seed ${seed} --cases ${n + 1})\n${failure}\n`)
  }
  if ((n + 1) % 10_000 === 0) console.log(`${n + 1} cases, ${failures} failures, ${((n + 1) / ((Date.now() - started) / 1000)).toFixed(0)} cases/s`)
}
console.log(`seed ${seed}: ${cases} conversations, each cut 3 ways: ${failures} failures in ${((Date.now() - started) / 1000).toFixed(1)} s`)
process.exit(failures > 0 ? 1 : 0)
