"""`optisim story`: executable YAML stories run against an integrator under test."""
