// The API browser over this server's own /openapi.json; "Try it out" sends the console's
// token when the user is signed in there.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  persistAuthorization: false,
  requestInterceptor: (request) => {
    const token = localStorage.getItem('gantry.token');
    if (token && !request.headers.Authorization) request.headers.Authorization = 'Bearer ' + token;
    return request;
  },
});
