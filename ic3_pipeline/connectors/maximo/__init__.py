"""IBM Maximo's REST (OSLC JSON) API: how to ask for a page of an object structure and how to read one."""
