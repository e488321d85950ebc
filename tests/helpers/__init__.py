"""What tests share: starting jobs and waiting on them, the parts they run against, GPU rigs, recorded
histories, a cuttable proxy, a fake Gemini endpoint. Test modules import from here, never from each other."""
