// Copies into <target>/node_modules the packages a compiled entry point imports (following its
// relative imports), each with its own dependencies, and nothing else: the Dockerfile's runtime
// stage gets what the server needs and none of the dev dependencies. The library itself needs none.
// Usage: node deploy/runtime-modules.mjs <entry.js> <target dir>   (run from the project root)

import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'

const [entry, target] = process.argv.slice(2)
if (!entry || !target) {
  process.stderr.write('usage: node deploy/runtime-modules.mjs <entry.js> <target dir>\n')
  process.exit(2)
}
const root = process.cwd()
// Static (`from 'x'`), side-effect (`import 'x'`) and dynamic (`import('x')`) imports; not `Buffer.from('x')`.
const SPECIFIER = /(?<![.\w$])(?:from\s*|import\s*\(\s*|import\s+)['"]([^'"\n]+)['"]/g

/** The packages `file` and the files it imports relatively import, by name. */
function importedPackages(file, seen = new Set(), found = new Set()) {
  if (seen.has(file)) return found
  seen.add(file)
  for (const [, specifier] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
    if (specifier.startsWith('.')) importedPackages(resolve(dirname(file), specifier), seen, found)
    else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
      const parts = specifier.split('/')
      found.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0])
    }
  }
  return found
}

/** Where Node would find package `name` from `dir`: the nearest node_modules above it that has it. */
function locate(name, dir) {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (at === root || dirname(at) === at) return null
  }
}

const copied = new Set()
/** Copies package `name` as seen from `dir`, then what it depends on. */
function copy(name, dir) {
  const found = locate(name, dir)
  if (found === null) {
    process.stderr.write(`runtime-modules: ${name} is not installed, skipped\n`)
    return
  }
  if (copied.has(found)) return
  copied.add(found)
  cpSync(found, join(target, relative(root, found)), { recursive: true, dereference: true })
  const manifest = JSON.parse(readFileSync(join(found, 'package.json'), 'utf8'))
  for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
    if (locate(dependency, found) !== null || !manifest.optionalDependencies?.[dependency]) copy(dependency, found)
  }
}

mkdirSync(join(target, 'node_modules'), { recursive: true })
const packages = [...importedPackages(resolve(entry))].sort()
for (const name of packages) copy(name, root)
process.stdout.write(`runtime-modules: ${packages.join(', ') || 'no packages'} (${copied.size} with their dependencies)\n`)
