// @ts-check
/** DOM helpers. Text only ever goes in through textContent: audit details are data, never markup. */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return /** @type {T} */ (found);
}

/**
 * @param {string} tag
 * @param {{ className?: string, text?: string }} [options]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElement}
 */
export function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = options.text;
  node.append(...children);
  return node;
}

/**
 * Shows or hides an error box (role=alert) with its text.
 * @param {HTMLElement} box
 * @param {string | null} text
 */
export function showError(box, text) {
  box.textContent = text ?? '';
  box.hidden = !text;
}

/**
 * An instant as the console prints it: the API's UTC text, a space for the T, milliseconds kept, no zone letter (the
 * column or the text around it says UTC).
 * @param {string} iso
 */
export const utc = (iso) => iso.replace('T', ' ').replace(/Z$/, '');

/**
 * Runs `work` with `region` marked busy and `buttons` disabled, so a second click cannot race the first.
 * @template T
 * @param {HTMLElement} region
 * @param {HTMLButtonElement[]} buttons
 * @param {() => Promise<T>} work
 * @returns {Promise<T>}
 */
export async function busy(region, buttons, work) {
  region.setAttribute('aria-busy', 'true');
  const before = buttons.map((b) => b.disabled);
  for (const b of buttons) b.disabled = true;
  try {
    return await work();
  } finally {
    region.setAttribute('aria-busy', 'false');
    buttons.forEach((b, i) => (b.disabled = before[i]));
  }
}
