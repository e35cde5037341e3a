import { LabIcon } from '@jupyterlab/ui-components';

/** A chip with a spark: the SXWL panel's icon in the left sidebar. */
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M7 4h10a3 3 0 0 1 3 3v10a3 3 0 0 1-3 3H7a3 3 0 0 1-3-3V7a3 3 0 0 1 3-3zm0 2a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h10a1 1 0 0 0 1-1V7a1 1 0 0 0-1-1H7z"/>
    <path d="M8 1h2v3H8zM14 1h2v3h-2zM8 20h2v3H8zM14 20h2v3h-2zM1 8h3v2H1zM1 14h3v2H1zM20 8h3v2h-3zM20 14h3v2h-3z"/>
    <path d="M13 7.5l-4 5h3l-1 4 4-5h-3z"/>
  </g>
</svg>`;

export const sxwlIcon = new LabIcon({
  name: 'jupyter_sxwl:panel',
  svgstr: svg
});
