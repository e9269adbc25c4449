/**
 * Linux interface names: at most IFNAMSIZ-1 = 15 bytes, no '/', no whitespace, no ':' and not
 * "." or "..". We are stricter than the kernel (letters, digits, '_', '.', '-') because a name
 * is later handed to `ip` and `tc` as an argument, and a conservative alphabet keeps anything
 * that looks like an option or a path out.
 */
const IFACE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export function ifaceNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name.length > 15) return `"${name.slice(0, 20)}" is longer than 15 characters (Linux IFNAMSIZ)`;
  if (name === '.' || name === '..' || !IFACE_NAME.test(name)) {
    return `"${name}" is not a valid interface name (letters, digits, '_', '.', '-'; must not start with '-' or '.')`;
  }
  return null;
}
