"""`optisim coverage`: which business rules the integrator's traffic exercised (reads
`GET /_sim/coverage` over HTTP; the catalogue itself is `simulator.domain.rules`)."""
