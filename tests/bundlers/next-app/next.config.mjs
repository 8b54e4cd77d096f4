// A static export: `next build` writes out/, which the test serves as plain files.
export default { output: 'export' };
